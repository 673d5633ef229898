// What an erased conversation leaves in its events: their rows (ids, types,
// order, times, agent ids, states, labels, departments) so the log, the
// reports and every reader's cursor stay whole, with every field that held
// the customer's data or what was said replaced. The walk goes through the
// whole data object, so an event type added later is redacted by the same
// keys without a change here.

/** The customer of an erased conversation, in the shape readers expect. */
export const ERASED_CUSTOMER = Object.freeze({ id: 'erased', name: null, email: null, phone: null, fields: {} });

/** Keys whose value is free text or the customer's identity: set to null (strings) wherever they appear. */
const TEXT_KEYS = new Set(['text', 'comment', 'note', 'external_ref', 'email', 'phone']);

/** `data` with the personal fields replaced; what is kept is listed in docs/api.md#erasure. */
export function redact(value: unknown, key?: string): unknown {
  if (key === 'customer' && value !== null && typeof value === 'object') return { ...ERASED_CUSTOMER, fields: {} };
  // file names and links (a channel's link may point at the customer's own file)
  if (key === 'attachments' && Array.isArray(value)) return [];
  if (key !== undefined && TEXT_KEYS.has(key) && typeof value === 'string') return null;
  if (Array.isArray(value)) return value.map((item) => redact(item));
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const redacted = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, k)]));
    // A customer's message names its sender by the customer's id: often an
    // email or a phone number (a widget's identified user), an offline
    // message's `offline:<email>`. An agent's names the agent, kept.
    if (redacted.sender === 'customer' && typeof redacted.sender_id === 'string') redacted.sender_id = null;
    return redacted;
  }
  return value;
}
