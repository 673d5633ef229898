-- Failed-login counters in the database instead of each process' memory
-- (src/http/login-attempts.ts): with N processes behind a load balancer an
-- attacker got up to N times the tries, and a restart cleared them. One row
-- per counted key (a client address or an account) and window; the key is a
-- digest, so the table holds no address or email. Rows whose window ended are
-- deleted by the processes as they count (at most once a minute each).

create table login_attempts (
  key_digest text primary key,
  window_ends_at timestamptz not null,
  attempts integer not null check (attempts > 0)
);

create index login_attempts_window_ends_at on login_attempts (window_ends_at);
