import type { Customer } from '../conversations/model.js';
import { invalid } from '../errors.js';
import { checkAnswers, RESERVED_KEYS, type PrechatField } from './rules.js';

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
 * rules as the widget.
 */
export function applyAnswers(fields: readonly PrechatField[], answers: Readonly<Record<string, unknown>>, opening: Opening): Opening {
  const { values, problems } = checkAnswers(fields, answers);
  const [problem] = problems;
  if (problem) throw invalid(`prechat.${problem.field}`, problem.message);
  const customer = { ...opening.customer };
  const custom: Record<string, string> = { ...(customer.fields ?? {}) };
  let department = opening.department;
  for (const [key, value] of Object.entries(values)) {
    if (!(key in RESERVED_KEYS)) custom[key] = value;
    else if (key === 'department') department = value;
    else customer[key as 'name' | 'email' | 'phone'] = value;
  }
  if (Object.keys(custom).length > 0) customer.fields = custom;
  return { customer, department };
}
