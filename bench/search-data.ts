// A big help-desk history for the search benchmark, made inside PostgreSQL
// with generate_series (a million messages in about a minute instead of a
// million round trips).
import type { Db } from '../src/store/db.js';

export interface HistoryShape {
  agents: number;
  conversations: number;
  messagesPerConversation: number;
  /** share of conversations transferred once to another agent (who then "held" it too) */
  transferredShare: number;
}

/**
 * Message words: a help desk's common words (drawn with a skew, so the first
 * ones are in a large share of messages, the last ones in few), one word in
 * five from a long tail of 50,000 product names (`sku123`, also skewed), as
 * real text has, and an order number per message, rare by construction.
 */
export const WORDS = (
  'hello thanks please order refund payment card delivery late package address account password login email ' +
  'invoice receipt cancel subscription price discount coupon shipping tracking number broken damaged replace ' +
  'warranty store branch open closed weekend holiday manager complaint urgent help problem error app website ' +
  'checkout cart voucher points balance transfer bank wallet limit blocked verify code sms phone change update ' +
  'terima kasih tolong pesanan pembayaran kartu pengiriman obrigado por favor pedido pagamento entrega cartao'
).split(' ');

export const FIRST_NAMES = ['Ana', 'Budi', 'Carla', 'Dewi', 'Eko', 'Fatima', 'Gustavo', 'Hana', 'Ivan', 'Joana', 'Kiki', 'Luis', 'Maya', 'Nadia', 'Omar', 'Putri'];
export const LAST_NAMES = ['Lima', 'Santoso', 'Souza', 'Wijaya', 'Pratama', 'Silva', 'Costa', 'Rahman', 'Oliveira', 'Hartono', 'Ferreira', 'Saputra'];
export const DEPARTMENTS = ['sales', 'billing', 'support', 'returns', 'vip'];

/** Fills a migrated, empty store. Returns the agents' ids. */
export async function fillHistory(db: Db, shape: HistoryShape): Promise<string[]> {
  const agents = await db.query<{ id: string }>(
    `insert into agents (name, email, password_hash, role, status, capacity, departments, created_at, updated_at)
     select 'Bench agent ' || i, 'agent' || i || '@bench.invalid', 'bench$no-login', 'agent', 'offline', 10,
            array[($2::text[])[1 + i % array_length($2::text[], 1)]], now(), now()
       from generate_series(1, $1::int) as i
     returning id`,
    [shape.agents, DEPARTMENTS],
  );
  const ids = agents.map((a) => a.id);
  // Conversations over the last year, the newest 2 % still open.
  await db.query(
    `insert into conversations (channel, customer_id, customer, department, state, agent_id, created_at, queued_at, assigned_at, resolved_at, resolve_reason, updated_at)
     select 'widget', 'cust-' || i,
            jsonb_build_object('id', 'cust-' || i,
                               'name', ($3::text[])[1 + i % array_length($3::text[], 1)] || ' ' || ($4::text[])[1 + (i / 7) % array_length($4::text[], 1)],
                               'email', 'customer' || i || '@mail.example'),
            ($5::text[])[1 + i % array_length($5::text[], 1)],
            case when i > $1::int * 0.98 then 'assigned' else 'resolved' end,
            ($2::uuid[])[1 + (i * 31) % array_length($2::uuid[], 1)],
            t, t, t, case when i > $1::int * 0.98 then null else t + interval '20 minutes' end,
            case when i > $1::int * 0.98 then null else 'agent' end, t
       from generate_series(1, $1::int) as i,
            lateral (select now() - interval '365 days' * (1 - i::float8 / $1::int)) as at(t)`,
    [shape.conversations, ids, FIRST_NAMES, LAST_NAMES, DEPARTMENTS],
  );
  // The event log as the engine writes it: each conversation assigned; some
  // transferred to the next agent (the first one still "held" it).
  await db.query(
    `insert into events (type, conversation_id, agent_id, data, created_at)
     select 'conversation.assigned', c.id,
            case when c.seq % 100 < $2::float8 * 100 then ($1::uuid[])[1 + (c.seq * 31 + 1) % array_length($1::uuid[], 1)] else c.agent_id end,
            '{}', c.created_at
       from conversations c`,
    [ids, shape.transferredShare],
  );
  await db.query(
    `insert into events (type, conversation_id, agent_id, data, created_at)
     select 'conversation.transferred', c.id, c.agent_id, '{}', c.created_at + interval '5 minutes'
       from conversations c where c.seq % 100 < $1::float8 * 100`,
    [shape.transferredShare],
  );
  // Messages in order, alternately customer and agent, 3–12 skewed words and an order number.
  await db.query(
    `insert into messages (conversation_id, sender, sender_id, text, created_at)
     select c.id, case when k % 2 = 1 then 'customer' else 'agent' end, case when k % 2 = 1 then null else c.agent_id::text end,
            (select string_agg(case when random() < 0.2 then 'sku' || floor(power(random(), 3) * 50000)::int
                                    else ($2::text[])[1 + floor(power(random(), 2.5) * array_length($2::text[], 1))::int] end, ' ')
               from generate_series(1, 3 + (k + c.seq::int) % 10) w
              where w > 0 * k) || ' #' || (c.seq * 100 + k),
            c.created_at + make_interval(secs => k * 30)
       from conversations c, generate_series(1, $1::int) as k
      order by c.seq, k`,
    [shape.messagesPerConversation, WORDS],
  );
  // what autovacuum does to a table soon after a bulk load: without it every
  // index-only scan still visits the table, and the first reads set hint bits
  await db.exec('vacuum analyze');
  return ids;
}
