-- An attempt handed back is one decrement of the count (src/http/login-attempts.ts),
-- which may reach zero: two give-backs that met on a row used to decide
-- between "delete the last one" and "one less" on what both had read before
-- either wrote, and the one that waited then did neither. A row at zero
-- counts nothing; it is deleted right after, or taken as the next attempt's.
alter table login_attempts drop constraint login_attempts_attempts_check;
alter table login_attempts add constraint login_attempts_attempts_check check (attempts >= 0);
