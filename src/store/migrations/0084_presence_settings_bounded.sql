-- attendant_keep_alive_ms and agent_offline_grace_ms are at most 30 days
-- from now on (the settings API and the environment refuse more): the SQL
-- that subtracts them from now overflowed the timestamp range above ~6,700
-- years, and every "go offline" failed. A value saved before is brought
-- down to the limit.
update settings
   set value = to_jsonb(2592000000::bigint)
 where key in ('attendant_keep_alive_ms', 'agent_offline_grace_ms')
   and jsonb_typeof(value) = 'number' and (value #>> '{}')::numeric > 2592000000;
