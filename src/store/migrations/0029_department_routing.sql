-- Per-department routing settings (issue #20): the mode (auto, offer,
-- manual), sticky agents, offers, overflow, aging, SLA and skills. One row
-- per department an admin configured; `settings` holds only what was set,
-- and sb_department_routing (src/routing/functions.sql) lays it over the
-- defaults, so a default can change without rewriting rows.
create table department_routing (
  department text primary key,
  settings   jsonb not null default '{}',
  updated_at timestamptz not null default now(),
  updated_by uuid
);
