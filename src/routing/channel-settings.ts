// Skills a channel requires (issue #20: "a conversation may require skills
// from its department, channel, labels or the API"). Stored per channel in
// channel_routing (migration 0034); sb_required_skills
// (src/store/migrations/routing/functions.sql) merges them into each conversation's
// requirement when it opens, and a change here applies to the channel's
// open conversations at once.
import type { Ctx } from '../context.js';
import { withEvents } from '../events/outbox.js';
import type { Queryable } from '../store/db.js';
import { drain } from './match.js';

export const CHANNELS = ['widget', 'qiscus', 'rapidpro', 'api', 'mqtt', 'offline'] as const;
export type Channel = (typeof CHANNELS)[number];

export interface ChannelRouting {
  channel: Channel;
  required_skills: Record<string, number>;
}

export async function readChannelRouting(db: Queryable, channel: Channel): Promise<ChannelRouting> {
  const [row] = await db.query<{ required_skills: Record<string, number> }>('select required_skills from channel_routing where channel = $1', [channel]);
  return { channel, required_skills: row?.required_skills ?? {} };
}

/**
 * Sets the channel's required skills (replacing them: {} requires nothing).
 * A routing transaction: the channel's open conversations take the new
 * requirement, and what a smaller one lets an agent with room serve is
 * matched before the answer. An assigned conversation keeps its agent.
 */
export async function changeChannelRouting(ctx: Ctx, channel: Channel, requiredSkills: Record<string, number>, by: string | null): Promise<ChannelRouting> {
  return withEvents(ctx, async (tx, emit) => {
    await tx.query(
      `insert into channel_routing (channel, required_skills, updated_at, updated_by) values ($1, $2::jsonb, $3, $4)
       on conflict (channel) do update set required_skills = excluded.required_skills, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
      [channel, JSON.stringify(requiredSkills), ctx.now(), by],
    );
    const settings = await readChannelRouting(tx, channel);
    emit({ type: 'settings.changed', data: { changed: { channel_routing: settings }, by } });
    await tx.query('select sb_refresh_channel_terms($1)', [channel]);
    await drain(tx, emit, ctx.now());
    return settings;
  }, { routing: true });
}
