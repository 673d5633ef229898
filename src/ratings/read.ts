import type { Queryable } from '../store/db.js';
import { toRating, type Rating } from './model.js';

/** The ratings of these conversations, by conversation id (one query for a page of conversations). */
export async function ratingsOf(db: Queryable, conversationIds: readonly string[]): Promise<Map<string, Rating>> {
  if (conversationIds.length === 0) return new Map();
  const rows = await db.query<{ conversation_id: string; score: number; comment: string | null; created_at: Date }>(
    'select conversation_id, score, comment, created_at from ratings where conversation_id = any ($1::uuid[])',
    [conversationIds],
  );
  return new Map(rows.map((r) => [r.conversation_id, toRating(r)]));
}

export async function ratingOf(db: Queryable, conversationId: string): Promise<Rating | null> {
  return (await ratingsOf(db, [conversationId])).get(conversationId) ?? null;
}
