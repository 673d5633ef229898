import type { Customer } from '../conversations/model.js';
import { invalid } from '../errors.js';
import { checkAnswers, patternProblem, reservedType, type PrechatField } from './rules.js';

// A widget customer's pre-chat answers, judged by the form and poured into
// the conversation they open: name, email and phone onto the customer,
// department onto the conversation, every other answer into customer.fields
// (which the API, the console and the webhooks already carry).

export interface Opening {
  customer: Pick<Customer, 'id' | 'name' | 'email' | 'phone' | 'fields'>;
  department: string | null;
}

/**
 * The opening with the answers applied, or a 400 naming the first answer at
 * fault as `prechat.<key>` (thrown before anything is written). Without a
 * form, answers are refused rather than stored unchecked; without answers,
 * a form with required fields refuses the chat — the API follows the same
 * rules as the widget. An answered field whose stored pattern cannot run is
 * taken unchecked (src/prechat/rules.ts checkAnswer) and told to `warn`.
 */
export function applyAnswers(fields: readonly PrechatField[], answers: Readonly<Record<string, unknown>>, opening: Opening, warn: (message: string) => void = warnOnce): Opening {
  const { values, problems } = checkAnswers(fields, answers, { all: false });
  const [problem] = problems;
  if (problem) throw invalid(`prechat.${problem.field}`, problem.message);
  for (const field of fields) {
    const unusable = field.pattern !== null && Object.hasOwn(values, field.key) ? patternProblem(field.pattern) : null;
    if (unusable) warn(`pre-chat field ${field.key}: its stored pattern ${JSON.stringify(field.pattern)} ${unusable}; its answers are taken unchecked until an admin saves the form with a pattern RE2 can run (PUT /api/v1/prechat-form)`);
  }
  const customer = { ...opening.customer };
  const custom: Record<string, string> = { ...(customer.fields ?? {}) };
  let department = opening.department;
  for (const [key, value] of Object.entries(values)) {
    if (reservedType(key) === undefined) custom[key] = value;
    else if (key === 'department') department = value;
    else customer[key as 'name' | 'email' | 'phone'] = value;
  }
  if (Object.keys(custom).length > 0) customer.fields = custom;
  return { customer, department };
}

const warned = new Set<string>();

/**
 * A stored pattern RE2 cannot run (src/prechat/rules.ts checkAnswer), told
 * once per process and message: every anonymous POST /session to the form
 * would repeat it. Through process warnings, which the server prints, since
 * no logger reaches here; a caller with one passes `warn`.
 */
function warnOnce(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  process.emitWarning(message, { code: 'SB_PRECHAT_PATTERN_UNCHECKED' });
}
