import { invalid } from '../../errors.js';

// A form-encoded webhook body as Laravel-style scripts post one: nested
// fields in brackets (`service[room_id]=7&service[id]=12`), read into the
// object the JSON body would be (`{"service":{"room_id":"7","id":"12"}}`),
// so the same schema checks both. `a[]=x` appends to a list.

/** Names that would reach an object's prototype: never a field of ours. */
const UNSAFE = new Set(['__proto__', 'prototype', 'constructor']);

type Form = Record<string, unknown>;

export function formFields(body: string): Form {
  const fields: Form = {};
  for (const [key, value] of new URLSearchParams(body)) {
    if (key === '') continue; // `&=x`: names nothing
    const open = key.indexOf('[');
    const path = open <= 0 ? [key] : [key.slice(0, open), ...parts(key, open)];
    if (path.some((name) => UNSAFE.has(name))) continue;
    let at: Form | unknown[] = fields;
    for (let i = 0; i < path.length; i += 1) {
      const name = path[i]!;
      const last = i === path.length - 1;
      if (Array.isArray(at)) {
        // only `a[]` makes a list, and only as the last part
        if (name !== '' || !last) throw invalid(key, 'mixes a list ([]) with named fields');
        at.push(value);
        break;
      }
      if (last) {
        if (name === '') throw invalid(key, 'has an empty field name');
        if (Object.hasOwn(at, name) && typeof at[name] === 'object') throw invalid(key, `is both a value and a group of fields (${path.slice(0, i + 1).join('.')})`);
        at[name] = value;
        break;
      }
      const next = path[i + 1]!;
      // own fields only: `toString[x]=1` names a field, not Object.prototype.toString
      const existing = Object.hasOwn(at, name) ? at[name] : undefined;
      if (existing === undefined) at = at[name] = next === '' ? [] : {};
      else if (typeof existing === 'object' && existing !== null && Array.isArray(existing) === (next === '')) at = existing as Form | unknown[];
      else throw invalid(key, `is both a value and a group of fields (${path.slice(0, i + 1).join('.')})`);
    }
  }
  return fields;
}

/** `[a][b]` of `x[a][b]`, from the first bracket; text after the last `]` (`x[a]b`) or a `[` without its `]` is refused, not guessed at. */
function parts(key: string, open: number): string[] {
  const found: string[] = [];
  let i = open;
  while (i < key.length && key[i] === '[') {
    const close = key.indexOf(']', i);
    if (close < 0) throw invalid(key, 'has a [ without its ]');
    found.push(key.slice(i + 1, close));
    i = close + 1;
  }
  if (i < key.length) throw invalid(key, 'is not a field name: text after its brackets');
  return found;
}
