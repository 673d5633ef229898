-- Business hours (issue #18, item 2): the weekly schedules, time zones and
-- holidays of the default (conversations without a department, and every
-- department without its own) and of departments, as an admin defined them.
-- One row at most, replaced whole by PUT /api/v1/business-hours, so a reader
-- never sees half of an edit. No row means no schedule: always open.
-- hours is {default: schedule|null, departments: {name: schedule}}, each
-- schedule {time_zone, weekly: {monday..sunday: [{start, end}]}, holidays:
-- [{date, name}]}, checked by src/business-hours/rules.ts.
create table business_hours (
  id boolean primary key default true check (id),
  hours jsonb not null,
  updated_at timestamptz not null,
  updated_by uuid
);
