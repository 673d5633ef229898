-- The pre-chat form (issue #18, item 5): the fields a widget customer fills
-- in before the chat starts, as admins defined them. One row at most (the
-- primary key is the constant true): the whole definition is replaced at
-- once by PUT /api/v1/prechat-form, so a reader never sees half of an edit.
-- No row means no form. Each field is {key, label, type, required,
-- max_length, pattern, options}, checked by src/prechat/rules.ts.
create table prechat_form (
  id boolean primary key default true check (id),
  fields jsonb not null default '[]',
  updated_at timestamptz not null,
  updated_by uuid
);
