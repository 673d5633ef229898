import type { Config, OfflinePolicy } from '../config.js';
import type { Queryable } from '../store/db.js';

/** Runtime settings, persisted; the environment only gives their first values. */
export interface Settings {
  max_customers: number;
  attendant_keep_alive_ms: number;
  agent_offline_grace_ms: number;
  offline_policy: OfflinePolicy;
  /** where offline messages are emailed; null: they only wait in the queue */
  offline_email_to: string | null;
  /** whether the widget asks for a rating after a resolved conversation, and the rating route accepts one */
  csat_enabled: boolean;
  /** the question the widget asks */
  csat_question: string;
  /** what the widget says once the rating is in */
  csat_thanks: string;
  /** when the widget shows the offline form instead of a live chat: outside business hours, when no agent of the department is online, both, or never (empty) */
  offline_when: OfflineCondition[];
  /** the largest file an agent or customer may upload, bytes */
  attachments_max_bytes: number;
  /** how many uploaded files one message may carry */
  attachments_max_files: number;
  /** what may be uploaded: MIME types (`image/png`), families (`image/*`) or file name extensions (`.docx`) */
  attachments_allowed_types: string[];
}

export const OFFLINE_CONDITIONS = ['outside_hours', 'no_agent_online'] as const;
export type OfflineCondition = (typeof OFFLINE_CONDITIONS)[number];

export const SETTING_KEYS: readonly (keyof Settings)[] = [
  'max_customers',
  'attendant_keep_alive_ms',
  'agent_offline_grace_ms',
  'offline_policy',
  'offline_email_to',
  'csat_enabled',
  'csat_question',
  'csat_thanks',
  'offline_when',
  'attachments_max_bytes',
  'attachments_max_files',
  'attachments_allowed_types',
];

/**
 * Customer satisfaction starts on, in plain words; an admin changes them in
 * the console. No environment variables: nothing about them is deployment-specific.
 */
export const CSAT_DEFAULTS = {
  csat_enabled: true,
  csat_question: 'How would you rate this conversation?',
  csat_thanks: 'Thank you for your feedback!',
} as const satisfies Partial<Settings>;

/**
 * What a help desk exchanges: pictures, PDFs, text and office documents, up
 * to 10 MiB. Not HTML or scripts, which would run if opened from this origin.
 */
export const ATTACHMENT_DEFAULTS = {
  attachments_max_bytes: 10 * 1024 * 1024,
  attachments_max_files: 10,
  attachments_allowed_types: ['image/*', 'application/pdf', 'text/plain', 'text/csv', '.pdf', '.txt', '.csv', '.docx', '.xlsx', '.pptx', '.odt', '.ods', '.zip'],
} satisfies Partial<Settings>;

export function defaultSettings(config: Config): Settings {
  return {
    max_customers: config.maxCustomers,
    attendant_keep_alive_ms: config.attendantKeepAliveMs,
    agent_offline_grace_ms: config.agentOfflineGraceMs,
    offline_policy: config.offlinePolicy,
    offline_email_to: null,
    ...CSAT_DEFAULTS,
    // Without a schedule it is always within hours, so a new install keeps the live chat as it was.
    offline_when: ['outside_hours'],
    ...ATTACHMENT_DEFAULTS,
  };
}

/** Writes the first-run values; settings changed since keep theirs. */
export async function seedSettings(db: Queryable, defaults: Settings, now: Date): Promise<void> {
  const keys = Object.keys(defaults) as (keyof Settings)[];
  await db.query(
    `insert into settings (key, value, updated_at)
     select k, v, $3 from unnest($1::text[], $2::jsonb[]) as s(k, v)
     on conflict (key) do nothing`,
    [keys, keys.map((k) => JSON.stringify(defaults[k])), now],
  );
}

export async function readSettings(db: Queryable): Promise<Settings> {
  const rows = await db.query<{ key: string; value: unknown }>('select key, value from settings');
  const out: Record<string, unknown> = {};
  for (const row of rows) out[row.key] = row.value;
  for (const key of SETTING_KEYS) {
    if (!(key in out)) throw new Error(`setting ${key} is missing: was the store migrated and seeded?`);
  }
  return out as unknown as Settings;
}

export async function writeSettings(tx: Queryable, patch: Partial<Settings>, now: Date): Promise<void> {
  const keys = Object.keys(patch) as (keyof Settings)[];
  if (keys.length === 0) return;
  await tx.query(
    `insert into settings (key, value, updated_at)
     select k, v, $3 from unnest($1::text[], $2::jsonb[]) as s(k, v)
     on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at`,
    [keys, keys.map((k) => JSON.stringify(patch[k])), now],
  );
}
