import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { PrechatField, Problem } from '../../../src/prechat/rules';
import { formatNumber } from '../../shared/format';
import { api } from '../../shared/util';
import { t } from '../../shared/i18n';

// The pre-chat form (GET /api/v1/prechat-form), shown before a chat when an
// admin defined one. Answers are judged by the server's own rules
// (src/prechat/rules.ts, imported as is): an answer refused here would be
// refused by POST /session too, so nothing is sent until all pass. A refusal
// the server still makes (the form changed meanwhile) comes back as
// `prechat.<key>` and is shown at its field.

export type Answers = Record<string, string | boolean>;
export type FieldProblem = { key: string; message: string } | null;

const ANSWERS_KEY = 'switchboard-prechat';
const embedded = new URLSearchParams(location.hash.slice(1));
const department = new URLSearchParams(location.search).get('department');

type Rules = typeof import('../../../src/prechat/rules');
/**
 * The server's rules, loaded only with a form that has fields: their pattern
 * engine (RE2, linear in time) is most of their weight, and most chats start
 * without a form.
 */
let rules: Rules | undefined;

/** The form's fields: null while loading; [] when there is none (or it cannot be read: the server still judges the chat). */
export function usePrechatForm(): PrechatField[] | null {
  const [fields, setFields] = useState<PrechatField[] | null>(null);
  useEffect(() => {
    api<{ fields: PrechatField[] }>('GET', '/api/v1/prechat-form')
      .then(async (form) => {
        if (form.fields.length > 0) rules = await import('../../../src/prechat/rules');
        setFields(form.fields);
      })
      .catch(() => setFields([]));
  }, []);
  return fields;
}

/** What the form starts with: this tab's last answers, else what the host page knows (data-customer-name/-email/-phone, data-department). */
function prefill(fields: readonly PrechatField[]): Answers {
  let saved: Answers = {};
  try {
    saved = JSON.parse(sessionStorage.getItem(ANSWERS_KEY) ?? '{}') as Answers;
  } catch {
    // nothing kept
  }
  const known: Record<string, string | null> = {
    name: embedded.get('customer_name'),
    email: embedded.get('customer_email'),
    phone: embedded.get('customer_phone'),
    department,
  };
  const out: Answers = {};
  for (const f of fields) {
    const value = saved[f.key] ?? known[f.key] ?? (f.type === 'checkbox' ? false : '');
    // a select keeps only a choice it still offers
    out[f.key] = f.type === 'select' && typeof value === 'string' && !f.options.includes(value) ? '' : value;
  }
  return out;
}

function keep(answers: Answers) {
  try {
    sessionStorage.setItem(ANSWERS_KEY, JSON.stringify(answers));
  } catch {
    // private mode: the answers are just not kept across a failed start
  }
}

/** A broken rule in the customer's language; the rules' English only for what this form cannot send (a key it lacks, a non-text answer). */
function problemText(label: string, problem: Problem): string {
  const rule = problem.rule;
  switch (rule?.kind) {
    case 'required':
      return t('{label} is required.', { label });
    case 'ticked':
      return t('{label} must be ticked.', { label });
    case 'number':
      return t('{label} must be a number, like 42 or 3.5.', { label });
    case 'one_line':
      return t('{label} must be one line of text, without control characters.', { label });
    case 'too_long':
      return t('{label} must be at most {limit} characters.', { label, limit: formatNumber(rule.limit) });
    case 'email':
      return t('{label} must be an email address, like name@example.com.', { label });
    case 'phone':
      return t('{label} must be a phone number: 5 to 20 digits, with an optional leading + and spaces, dots, dashes or brackets.', { label });
    case 'choice':
      return t('{label} must be one of: {options}.', { label, options: rule.options.join(', ') });
    case 'format':
      return t('{label} is not in the expected format ({pattern}).', { label, pattern: rule.pattern });
    default:
      return `${label} ${problem.message}.`;
  }
}

const INPUT_TYPE: Record<string, string> = { email: 'email', phone: 'tel' };
const AUTOCOMPLETE: Record<string, string> = { name: 'name', email: 'email', phone: 'tel' };

export function PrechatForm({ fields, serverProblem, onStart }: { fields: PrechatField[]; serverProblem: FieldProblem; onStart: (answers: Answers) => void }) {
  const [answers, setAnswers] = useState<Answers>(() => prefill(fields));
  const labelOf = (key: string) => fields.find((f) => f.key === key)?.label ?? key;
  // the server says "prechat.<key> <rule>": shown as the widget's own, "<label> <rule>."
  const [errors, setErrors] = useState<Record<string, string>>(() => {
    if (!serverProblem) return {};
    const prefix = `prechat.${serverProblem.key} `;
    const rule = serverProblem.message.startsWith(prefix) ? serverProblem.message.slice(prefix.length) : serverProblem.message;
    return { [serverProblem.key]: `${labelOf(serverProblem.key)} ${rule}.` };
  });
  const formRef = useRef<HTMLFormElement | null>(null);

  const focusFirst = (keys: readonly string[]) => {
    const first = fields.find((f) => keys.includes(f.key));
    if (first) formRef.current?.querySelector<HTMLElement>(`#prechat-${first.key}`)?.focus();
  };
  useEffect(() => {
    if (serverProblem) focusFirst([serverProblem.key]);
  }, [serverProblem]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const { problems } = rules!.checkAnswers(fields, answers);
    if (problems.length > 0) {
      setErrors(Object.fromEntries(problems.map((p) => [p.field, problemText(labelOf(p.field), p)])));
      focusFirst(problems.map((p) => p.field));
      return;
    }
    setErrors({});
    keep(answers);
    onStart(answers);
  };

  const set = (key: string, value: string | boolean) => {
    setAnswers((current) => ({ ...current, [key]: value }));
    // an error goes once the customer changes what it was about
    if (errors[key]) setErrors(({ [key]: _, ...rest }) => rest);
  };

  return (
    <form className="start prechat" onSubmit={submit} noValidate ref={formRef} aria-describedby="prechat-intro" data-testid="prechat">
      <p id="prechat-intro">
        {t('Tell us a little about you and we will connect you with an agent.')} {t('Fields marked with * are required.')}
      </p>
      {fields.map((f) => {
        const id = `prechat-${f.key}`;
        const error = errors[f.key];
        const aria = {
          'aria-required': f.required,
          'aria-invalid': error ? true : undefined,
          'aria-describedby': error ? `${id}-error` : undefined,
        };
        const marker = f.required ? <span className="required" aria-hidden="true"> *</span> : null;
        const message = error ? (
          <span className="field-error" id={`${id}-error`} role="alert">
            {error}
          </span>
        ) : null;
        if (f.type === 'checkbox') {
          return (
            <div key={f.key} className="field checkbox">
              <input id={id} name={f.key} type="checkbox" checked={answers[f.key] === true} onChange={(e) => set(f.key, e.target.checked)} {...aria} />
              <label htmlFor={id}>
                {f.label}
                {marker}
              </label>
              {message}
            </div>
          );
        }
        const value = typeof answers[f.key] === 'string' ? (answers[f.key] as string) : '';
        return (
          <div key={f.key} className="field">
            <label htmlFor={id}>
              {f.label}
              {marker}
            </label>
            {f.type === 'select' ? (
              <select id={id} name={f.key} value={value} onChange={(e) => set(f.key, e.target.value)} {...aria}>
                <option value="">{t('Choose…')}</option>
                {f.options.map((o) => (
                  <option key={o} value={o}>
                    {o}
                  </option>
                ))}
              </select>
            ) : (
              <input
                id={id}
                name={f.key}
                type={INPUT_TYPE[f.type] ?? 'text'}
                inputMode={f.type === 'number' ? 'decimal' : undefined}
                autoComplete={AUTOCOMPLETE[f.key]}
                maxLength={f.type === 'number' ? undefined : rules!.limitOf(f)}
                value={value}
                onChange={(e) => set(f.key, e.target.value)}
                {...aria}
              />
            )}
            {message}
          </div>
        );
      })}
      <button type="submit">{t('Start chat')}</button>

    </form>
  );
}
