import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';

// A webhook URL is typed by an admin, but the request leaves from inside the
// server's network: unless ALLOW_PRIVATE_WEBHOOK_TARGETS says so, targets in
// private, loopback, link-local and other non-public ranges are refused — by
// literal address when the endpoint is saved, and after DNS resolution (the
// address actually connected to) when a delivery is sent, so a name that
// later resolves inward (DNS rebinding) is caught too.

const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata (169.254.169.254)
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  // IPv4-compatible (deprecated), :: and ::1 included: stacks differ on where
  // ::a.b.c.d goes, so none of it is a target
  ['::', 96],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
  ['2001:db8::', 32], // documentation
  ['100::', 64], // discard
  ['64:ff9b:1::', 48], // local-use IPv4/IPv6 translation (RFC 8215): a translator inside the network
  ['2002::', 16], // 6to4: tunnels to whatever IPv4 address it embeds, private ones included
] as const) {
  blocked.addSubnet(net, bits, 'ipv6');
}

/**
 * IPv4 inside IPv6 (::ffff:a.b.c.d, 64:ff9b::a.b.c.d) is judged as the IPv4
 * address it carries. The IPv4-compatible form (::a.b.c.d) is refused
 * whole, by the ::/96 entry above.
 */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex) {
    const hi = parseInt(hex[1]!, 16);
    const lo = parseInt(hex[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return undefined;
}

/** True for an address a webhook must not reach unless private targets are allowed. */
export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 4) return blocked.check(bare, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIpv4(bare);
    if (v4 !== undefined) return blocked.check(v4, 'ipv4');
    return blocked.check(bare, 'ipv6');
  }
  return false;
}

const LOCAL_NAMES = /(^|\.)(localhost|localhost\.localdomain|local|internal)\.?$/i;

/**
 * Why this URL may not be a webhook target, judged without the network
 * (scheme, literal addresses, local names); undefined when it may be.
 */
export function urlProblem(raw: string, allowPrivate: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must use http or https, not ${url.protocol.replace(/:$/, '')}`;
  if (url.username !== '' || url.password !== '') return 'must not carry a user name or password; authenticate with the signature';
  if (url.hostname === '') return 'must name a host';
  if (allowPrivate) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0 ? isPrivateAddress(host) : LOCAL_NAMES.test(host)) {
    return `points at a private, loopback or link-local address (${url.hostname}); set ALLOW_PRIVATE_WEBHOOK_TARGETS=true to allow that`;
  }
  return undefined;
}

/** Resolves a host name and refuses it when any address it resolves to is private (best effort at save time). */
export async function resolvedProblem(raw: string, allowPrivate: boolean, timeoutMs = 1_500): Promise<string | undefined> {
  if (allowPrivate) return undefined;
  const host = new URL(raw).hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0) return undefined;
  const addresses = await Promise.race([
    new Promise<LookupAddress[]>((resolve) => dnsLookup(host, { all: true }, (err, list) => resolve(err ? [] : list))),
    new Promise<LookupAddress[]>((resolve) => setTimeout(() => resolve([]), timeoutMs).unref()),
  ]);
  const inside = addresses.find((a) => isPrivateAddress(a.address));
  return inside ? `resolves to a private, loopback or link-local address (${inside.address}); set ALLOW_PRIVATE_WEBHOOK_TARGETS=true to allow that` : undefined;
}

export class SsrfError extends Error {
  readonly code = 'SB_WEBHOOK_TARGET_PRIVATE';
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request that fails the connection when the name
 * resolves to a private address: the check and the connect use the same
 * answer, so it cannot be raced by a second DNS reply.
 */
export function guardedLookup(allowPrivate: boolean) {
  return (hostname: string, options: { all?: boolean; family?: number | string } & Record<string, unknown>, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true } as { all: true }, (err, list) => {
      if (err) return callback(err, '');
      const addresses = list as LookupAddress[];
      if (!allowPrivate) {
        const inside = addresses.find((a) => isPrivateAddress(a.address));
        if (inside) return callback(new SsrfError(`${hostname} resolves to the private address ${inside.address}; refused (ALLOW_PRIVATE_WEBHOOK_TARGETS is off)`), '');
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '');
      callback(null, first.address, first.family);
    });
  };
}
