// The search statements. Two texts, one per kind of caller, so each gets the
// plan that suits it: supervisors and admins search the whole history (the
// GIN indexes for rare words, a walk back through the newest messages for
// common ones); an agent searches only the conversations they hold or held,
// a few hundred or thousand, so their statement starts from those.
//
// Parameters:
//   $1 q (text)
//   $2 state            $3 agent filter (uuid)   $4 department
//   $5 from (inclusive) $6 to (exclusive)        $7 how many hits of each kind to read (offset + limit)
//   $8 offset           $9 limit
//   $10 the agent searching (SEARCH_HELD only)

/**
 * The user's words as a tsquery: quotes, `or` and `-word` work as on web
 * search engines, and no input is a syntax error. Written inline rather than
 * once in a CTE: as a constant of the plan, the planner knows from the
 * statistics how common the words are, and so which way to read.
 */
const TSQUERY = /* sql */ `websearch_to_tsquery('simple'::regconfig, $1::text)`;

/** Exactly the expression of the index conversations_customer_search (migration 0012). */
const CUSTOMER_VECTOR = /* sql */ `to_tsvector('simple'::regconfig, c.customer_id || ' ' || coalesce(c.customer ->> 'name', '') || ' ' || coalesce(c.customer ->> 'email', ''))`;

const CONVERSATION_FILTERS = /* sql */ `
       ($2::text is null or c.state = $2)
   and ($3::uuid is null or c.agent_id = $3)
   and ($4::text is null or c.department = $4)`;

/** A customer matches on a word of their id, name or email, or on the whole id or email as typed. */
const CUSTOMER_MATCH = /* sql */ `
       (${CUSTOMER_VECTOR} @@ ${TSQUERY}
        or c.customer_id = $1::text
        or lower(c.customer ->> 'email') = lower($1::text))`;

const MESSAGE_WINDOW = /* sql */ `
     and ($5::timestamptz is null or s.created_at >= $5)
     and ($6::timestamptz is null or s.created_at < $6)`;

const CONVERSATION_WINDOW = /* sql */ `
     and ($5::timestamptz is null or c.created_at >= $5)
     and ($6::timestamptz is null or c.created_at < $6)`;

/**
 * Hits newest first: a message at the time it was written, a customer match
 * at the time its conversation was opened. Each kind reads at most $7 rows,
 * so the merged page is exact up to offset + limit.
 */
const PAGE = /* sql */ `
select to_jsonb(c) as conversation, to_jsonb(m) as message
  from (select * from message_hits union all select * from customer_hits) h
  join conversations c on c.id = h.conversation_id
  left join messages m on m.id = h.message_id
 order by h.hit_at desc, h.message_id desc nulls last, c.seq desc
 offset $8 limit $9`;

export const SEARCH_ALL = /* sql */ `
with message_hits as (
  select s.message_id, s.conversation_id, s.created_at as hit_at
    from message_search s
    join conversations c on c.id = s.conversation_id
   where s.vector @@ ${TSQUERY} ${MESSAGE_WINDOW}
     and ${CONVERSATION_FILTERS}
   order by s.created_at desc, s.message_id desc
   limit $7
),
customer_hits as (
  select null::bigint as message_id, c.id as conversation_id, c.created_at as hit_at
    from conversations c
   where ${CUSTOMER_MATCH} ${CONVERSATION_WINDOW}
     and ${CONVERSATION_FILTERS}
   order by c.created_at desc
   limit $7
)
${PAGE}`;

/**
 * The conversations an agent holds or held: assigned to them now, last held
 * by them (a closed one keeps its agent), or assigned or transferred to them
 * at some time, as the event log records it.
 */
const HELD = /* sql */ `
held as (
  select id from conversations where agent_id = $10::uuid
  union
  select conversation_id from events
   where agent_id = $10::uuid and type in ('conversation.assigned', 'conversation.transferred') and conversation_id is not null
)`;

export const SEARCH_HELD = /* sql */ `
with ${HELD},
message_hits as (
  select s.message_id, s.conversation_id, s.created_at as hit_at
    from held
    join conversations c on c.id = held.id
    join message_search s on s.conversation_id = held.id
   where s.vector @@ ${TSQUERY} ${MESSAGE_WINDOW}
     and ${CONVERSATION_FILTERS}
   order by s.created_at desc, s.message_id desc
   limit $7
),
customer_hits as (
  select null::bigint as message_id, c.id as conversation_id, c.created_at as hit_at
    from held
    join conversations c on c.id = held.id
   where ${CUSTOMER_MATCH} ${CONVERSATION_WINDOW}
     and ${CONVERSATION_FILTERS}
   order by c.created_at desc
   limit $7
)
${PAGE}`;
