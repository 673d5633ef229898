// The search statements, one per shape of question, so each gets the plan
// that suits it: supervisors and admins search the whole history (the GIN
// index for rare words, a walk back through the newest messages for common
// ones); an agent searches only the conversations they hold or held, and an
// agent filter narrows to one agent's, so those statements start from that
// set of conversations.
//
// Parameters:
//   $1 q (text)
//   $2 state            $3 agent filter (uuid)   $4 department
//   $5 from (inclusive) $6 to (exclusive)        $7 how many hits of each kind to read (offset + limit)
//   $8 offset           $9 limit                 $10 label (its catalogue name)
//   $11 the agent searching (SEARCH_HELD only)
//
// Every statement has $1–$10 whether it needs them or not (a filter that is
// null is no filter), so one list of parameters fits all three.

/**
 * The user's words as a tsquery: quotes, `or` and `-word` work as on web
 * search engines, and no input is a syntax error. Written inline rather than
 * once in a CTE: as a constant of the plan, the planner knows from the
 * statistics how common the words are, and so which way to read.
 */
const TSQUERY = /* sql */ `websearch_to_tsquery('simple'::regconfig, $1::text)`;

/** Exactly the expression of the index conversations_customer_search (migration 0012). */
const CUSTOMER_VECTOR = /* sql */ `to_tsvector('simple'::regconfig, c.customer_id || ' ' || coalesce(c.customer ->> 'name', '') || ' ' || coalesce(c.customer ->> 'email', ''))`;

// The label is the catalogue's spelling of the name (search.ts resolves it),
// so containment on conversations.labels is exact.
const CONVERSATION_FILTERS = /* sql */ `
       ($2::text is null or c.state = $2)
   and ($3::uuid is null or c.agent_id = $3)
   and ($4::text is null or c.department = $4)
   and ($10::text is null or c.labels @> array[$10::text])`;

/**
 * A customer matches on a word of their id, name or email, or on the whole
 * id or email as typed. On words only when the question has a word that
 * must occur (querytree is 'T' when it has none: only exclusions, `-x`, or
 * an alternative with one, `x or -y`). By its words such a question matches
 * nearly every customer, and no index finds them: the words of every
 * conversation of the store would be computed, for any agent, whatever
 * the page. Its messages are still found, the newest first. With the words
 * a constant (plan_cache_mode, search.ts), the planner folds the test and
 * drops the GIN branch altogether.
 */
const CUSTOMER_MATCH = /* sql */ `
       ((querytree(${TSQUERY}) <> 'T' and ${CUSTOMER_VECTOR} @@ ${TSQUERY})
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
 * so the merged page is exact up to offset + limit — only if the order is
 * total and each kind's cut is in the very order the page takes it in: ties
 * (many conversations opened, or messages written, at the same instant) go
 * to the later message (its id), a message before a customer match, then to
 * the newer conversation (its seq). Otherwise a cut keeps some other few of
 * the tied rows on every page, and paging repeats them and never reaches
 * the rest.
 */
const PAGE = /* sql */ `
select to_jsonb(c) as conversation, to_jsonb(m) as message
  from (select * from message_hits union all select * from customer_hits) h
  join conversations c on c.id = h.conversation_id
  left join messages m on m.id = h.message_id
 order by h.hit_at desc, h.message_id desc nulls last, c.seq desc
 offset $8 limit $9`;

/**
 * Conversations whose customer matches, among `among` (conversations c).
 * Over the whole history only the indexes can answer this cheaply (the GIN
 * on the customer's words, the B-trees on id and email), so it is computed
 * on its own, without the filters and order: given an order and a limit,
 * the planner may instead walk the conversations newest first and compute
 * every customer's words on the way, a row at a time.
 */
const customerMatches = (among: string) => /* sql */ `
customer_matches as materialized (
  select c.id from ${among} where ${CUSTOMER_MATCH}
)`;

const CUSTOMER_HITS = /* sql */ `
customer_hits as (
  select null::bigint as message_id, c.id as conversation_id, c.created_at as hit_at
    from customer_matches cm
    join conversations c on c.id = cm.id
   where true ${CONVERSATION_WINDOW}
     and ${CONVERSATION_FILTERS}
   order by c.created_at desc, c.seq desc
   limit $7
)`;

/** Everything: supervisors and admins without an agent filter. */
export const SEARCH_ALL = /* sql */ `
with ${customerMatches('conversations c')},
message_hits as (
  select s.message_id, s.conversation_id, s.created_at as hit_at
    from message_search s
    join conversations c on c.id = s.conversation_id
   where s.vector @@ ${TSQUERY} ${MESSAGE_WINDOW}
     and ${CONVERSATION_FILTERS}
   order by s.created_at desc, s.message_id desc
   limit $7
),
${CUSTOMER_HITS}
${PAGE}`;

/**
 * Within a set of conversations (the CTE `scope`): the messages of those
 * conversations only, read through message_search_by_conversation. For a
 * small set this beats the newest-first walk, which for a word common in
 * general but absent from the set would read the whole history. Customers
 * too are matched within the set, not in the whole history and then cut
 * down to it: a word common among all customers (a common name) would
 * otherwise read every conversation that has it, whoever held it. The
 * planner picks between the GIN index and computing the words of each
 * conversation of the set, by how many there are.
 */
const searchWithin = (scope: string, hitsOnly = '') => /* sql */ `
with ${scope}, ${customerMatches('scope join conversations c on c.id = scope.id')},
message_hits as (
  select s.message_id, s.conversation_id, s.created_at as hit_at
    from scope
    join conversations c on c.id = scope.id
    join message_search s on s.conversation_id = scope.id
   where s.vector @@ ${TSQUERY} ${MESSAGE_WINDOW}
     and ${CONVERSATION_FILTERS}${hitsOnly}
   order by s.created_at desc, s.message_id desc
   limit $7
),
${CUSTOMER_HITS}
${PAGE}`;

/**
 * An agent's search: the conversations they hold or held — assigned to them
 * now, last held by them (a closed one keeps its agent), or assigned or
 * transferred to them at some time, as the event log records it. Private
 * notes only of those they hold or last held, as every other read of notes
 * allows (conversations/access.ts): a note a supervisor wrote after the
 * conversation was transferred away is not for the agent it left (found by
 * review: their search showed it, their read of the messages was 403).
 */
export const SEARCH_HELD = searchWithin(
  /* sql */ `
scope as (
  select id from conversations where agent_id = $11::uuid
  union
  select conversation_id from events
   where agent_id = $11::uuid and type in ('conversation.assigned', 'conversation.transferred') and conversation_id is not null
)`,
  /* sql */ `
     and (c.agent_id is not distinct from $11::uuid
          or not exists (select 1 from messages n where n.id = s.message_id and n.private))`,
);

/** A supervisor's or admin's search with the agent filter: that agent's conversations. */
export const SEARCH_AGENT_FILTER = searchWithin(/* sql */ `
scope as (
  select id from conversations where agent_id = $3::uuid
)`);
