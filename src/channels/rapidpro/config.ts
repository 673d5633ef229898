import { ConfigError, optional, type Env } from '../../env.js';

// The RapidPro variables.

export interface RapidProConfig {
  /**
   * Where Switchboard is reached from outside (scheme, host, optional path
   * prefix), used to give each ticketer its base URL. Unset: the base URL is
   * built from the Host of the admin's request, which is right unless a
   * proxy in front changes the scheme or host.
   */
  publicUrl: string | undefined;
}

export function loadRapidProConfig(env: Env): RapidProConfig {
  return { publicUrl: publicUrl(env, 'PUBLIC_URL') };
}

function publicUrl(env: Env, name: string): string | undefined {
  const raw = optional(env, name);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new ConfigError(name, `must be an absolute http:// or https:// URL, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(name, `must use http or https, got ${JSON.stringify(raw)}`);
  if (url.search !== '' || url.hash !== '') throw new ConfigError(name, `must not carry a query or fragment, got ${JSON.stringify(raw)}`);
  return url.href.replace(/\/+$/, '');
}
