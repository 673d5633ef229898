import { randomBytes } from 'node:crypto';
import { checkAdminPassword, DEFAULT_ADMIN_EMAIL, type Config } from '../config.js';
import type { Ctx } from '../context.js';
import { AppError } from '../errors.js';
import { createAgent } from './agents.js';

/**
 * First start: make sure someone can log in. Uses ADMIN_EMAIL/ADMIN_PASSWORD,
 * or creates admin@localhost with a random password returned for printing
 * once. Two processes starting together race on the unique email: the loser
 * sees the 409 and leaves the winner's admin alone. Only people count: a
 * channel's agent (a Qiscus mirror) cannot sign in. When the address belongs
 * to someone who is no admin, nobody is made admin behind their back:
 * `taken` says so, for the server to report.
 */
export async function ensureAdmin(ctx: Ctx, config: Config): Promise<{ email: string; password?: string; taken?: true } | undefined> {
  if (await anAdmin(ctx)) return undefined;
  const email = config.adminEmail ?? DEFAULT_ADMIN_EMAIL;
  if (config.adminPassword !== undefined) checkAdminPassword(config.adminPassword, email);
  const generated = config.adminPassword === undefined ? randomBytes(12).toString('base64url') : undefined;
  try {
    await createAgent(ctx, { name: 'Administrator', email, password: config.adminPassword ?? generated!, role: 'admin' });
  } catch (error) {
    if (error instanceof AppError && error.code === 'SB_EMAIL_TAKEN') return (await anAdmin(ctx)) ? undefined : { email, taken: true };
    throw error;
  }
  return generated === undefined ? { email } : { email, password: generated };
}

async function anAdmin(ctx: Ctx): Promise<boolean> {
  const [existing] = await ctx.db.query("select id from agents where role = 'admin' and deleted_at is null and source is null limit 1");
  return existing !== undefined;
}
