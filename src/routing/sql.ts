// The allocation decisions, in SQL, run inside the routing transaction (which
// holds the routing advisory lock, so no other process changes loads or
// assignments between the read and the write).

/** Capacity of an agent row `a`: its own, or the global max_customers setting. */
export const CAPACITY_OF_A = /* sql */ `coalesce(a.capacity, (select (value #>> '{}')::int from settings where key = 'max_customers'))`;

/** Agent `a` may receive conversation `c`: same department, or `c` has none. */
const SERVES = (agent: string, conversation: string) =>
  `(${conversation}.department is null or ${conversation}.department = any (${agent}.departments))`;

/** Online, not deleted, below capacity. */
const HAS_ROOM = /* sql */ `a.status = 'online' and a.deleted_at is null and a.load < ${CAPACITY_OF_A}`;

/**
 * The policy's choice among agents for conversation `head`: least load, ties
 * to the one idle longest, then by id. The order matches the partial index
 * agents_pick, so PostgreSQL walks it and stops at the first agent with room
 * in the department instead of sorting every online agent.
 */
const PICK_AGENT_FOR_HEAD = /* sql */ `
  select a.id from agents a, head
   where ${HAS_ROOM} and ${SERVES('a', 'head')}
   order by a.load, a.last_assigned_at asc nulls first, a.id
   limit 1`;

/** Given CTEs `head` (one conversation) and `pick` (one agent), records the assignment and returns the conversation. */
const ASSIGN = /* sql */ `
, took as (
  update agents a set load = a.load + 1, last_assigned_at = $1, updated_at = $1
    from pick where a.id = pick.id
  returning a.id
)
update conversations c
   set state = 'assigned', agent_id = pick.id, assigned_at = $1, updated_at = $1
  from pick, head
 where c.id = head.id
returning c.*`;

/**
 * Full drain step: the first queued conversation (priority, then arrival)
 * that some online agent with room can serve, given to the policy's choice.
 * No row when nothing can be matched. Used by the sweep and after changes
 * that can free many slots at once. $1 now.
 */
export const MATCH_NEXT = /* sql */ `
with free as materialized (
  select a.id, a.departments from agents a where ${HAS_ROOM}
), head as (
  select c.id, c.department
    from conversations c
   where c.state = 'queued'
     and exists (select 1 from free)
     and exists (select 1 from free f where ${SERVES('f', 'c')})
   order by c.priority desc, c.seq
   limit 1
), pick as (${PICK_AGENT_FOR_HEAD})
${ASSIGN}`;

/**
 * An agent who just gained room: the first queued conversation they can
 * serve, in queue order. By the invariant no other agent with room could
 * serve it, so the policy's pick is this agent. $1 now, $2 agent.
 */
export const MATCH_FOR_AGENT = /* sql */ `
with me as (
  select a.departments from agents a where a.id = $2::uuid and ${HAS_ROOM}
), head as (
  select c.id, c.department
    from conversations c, me
   where c.state = 'queued' and ${SERVES('me', 'c')}
   order by c.priority desc, c.seq
   limit 1
), pick as (${PICK_AGENT_FOR_HEAD})
${ASSIGN}`;

/**
 * A new conversation, inserted already assigned when an agent has room for
 * it, or queued: one statement instead of an insert and a match. By the
 * invariant, an agent with room for it has no queued conversation they could
 * serve, so taking it at once overtakes nobody.
 * $1 channel, $2 external_ref, $3 customer id, $4 customer, $5 department,
 * $6 priority, $7 now, $8 customer_verified.
 */
export const OPEN_CONVERSATION = /* sql */ `
with head as (select $5::text as department
), pick as (${PICK_AGENT_FOR_HEAD}
), took as (
  update agents a set load = a.load + 1, last_assigned_at = $7, updated_at = $7
    from pick where a.id = pick.id
  returning a.id
)
insert into conversations (channel, external_ref, customer_id, customer, department, priority, state, agent_id,
                           created_at, queued_at, assigned_at, updated_at, customer_verified)
select $1, $2, $3, $4, $5, $6, case when pick.id is null then 'queued' else 'assigned' end, pick.id,
       $7, $7, case when pick.id is null then null else $7::timestamptz end, $7, $8
  from (select 1) as one left join pick on true
returning *`;

/** Releases an agent's slot; used with every move out of `assigned`. */
export const RELEASE_SLOT = /* sql */ `update agents set load = load - 1, updated_at = $2 where id = $1`;
