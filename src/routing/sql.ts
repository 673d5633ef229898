// The allocation decisions, in SQL, run inside the routing transaction (which
// holds the routing advisory lock, so no other process changes loads or
// assignments between the read and the write).

/** Capacity of an agent row `a`: its own, or the global max_customers setting. */
export const CAPACITY_OF_A = /* sql */ `coalesce(a.capacity, (select (value #>> '{}')::int from settings where key = 'max_customers'))`;

/** Agent `a` may receive conversation `c`: same department, or `c` has none. */
const SERVES = (agent: string, conversation: string) =>
  `(${conversation}.department is null or ${conversation}.department = any (${agent}.departments))`;

/**
 * One assignment: the first queued conversation (priority, then arrival) that
 * some online agent with room can serve, given to the eligible agent with the
 * least load, ties to the one idle longest, then by id. Returns the
 * conversation as assigned, or no row when nothing can be matched.
 *
 * $1 now; $2 only this conversation (or null); $3 only conversations this
 * agent can serve (or null) — the narrowed forms are used right after a
 * change that can only have created that one match.
 */
export const MATCH_NEXT = /* sql */ `
with free as materialized (
  select a.id, a.departments, a.load, a.last_assigned_at
    from agents a
   where a.status = 'online' and a.deleted_at is null and a.load < ${CAPACITY_OF_A}
), head as (
  select c.id, c.department
    from conversations c
   where c.state = 'queued'
     and ($2::uuid is null or c.id = $2::uuid)
     and exists (select 1 from free)
     and exists (select 1 from free f where ($3::uuid is null or f.id = $3::uuid) and ${SERVES('f', 'c')})
   order by c.priority desc, c.seq
   limit 1
), pair as (
  select h.id as conversation_id, best.id as agent_id
    from head h
    cross join lateral (
      select f.id from free f
       where ${SERVES('f', 'h')}
       order by f.load, f.last_assigned_at asc nulls first, f.id
       limit 1
    ) best
), took as (
  update agents a set load = a.load + 1, last_assigned_at = $1, updated_at = $1
    from pair where a.id = pair.agent_id
  returning a.id
)
update conversations c
   set state = 'assigned', agent_id = pair.agent_id, assigned_at = $1, updated_at = $1
  from pair
 where c.id = pair.conversation_id
returning c.*`;

/** Releases an agent's slot; used with every move out of `assigned`. */
export const RELEASE_SLOT = /* sql */ `update agents set load = load - 1, updated_at = $2 where id = $1`;
