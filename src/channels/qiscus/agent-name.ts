// A Qiscus agent's name is whatever an admin typed in Qiscus, and it becomes
// the name of the agent's mirror (allocate.ts, MIRRORS) in the transaction
// that decides every room of a pass: one name PostgreSQL refuses (a NUL is
// 22021, a lone surrogate has no UTF-8 form) would roll that decision back
// on every pass, and no room would be assigned to anyone. So names are made
// storable where they come in, as the API's own rules would have them.

/** The limit the API keeps agents' names to (NewAgentBody, src/http/schemas.ts), in code points. */
export const AGENT_NAME_MAX = 200;

// A display name needs no control character (NUL is the one PostgreSQL
// refuses); tabs and line breaks separated words, so they become one space.
const BREAKS = /[\t\n\v\f\r]+/g;
const CONTROLS = /[\u0000-\u001F\u007F]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The text as PostgreSQL can store it and a list can show it: line breaks as spaces, no other controls, no lone surrogates, trimmed, at most AGENT_NAME_MAX code points. */
export function storableName(text: string): string {
  const clean = text.replace(BREAKS, ' ').replace(CONTROLS, '').replace(LONE_SURROGATE, '\uFFFD').trim();
  return capped(clean, AGENT_NAME_MAX).trimEnd();
}

/** The first `max` code points: a cut between the two halves of a surrogate pair would leave a lone one. */
function capped(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = 0;
  for (let points = 0; points < max && end < text.length; points += 1) {
    end += (text.codePointAt(end) ?? 0) > 0xffff ? 2 : 1;
  }
  return text.slice(0, end);
}

/** The mirror's name for what Qiscus listed: its name, else (nothing left of it) its e-mail, else its id. */
export function agentName(name: unknown, email: string | null, id: string): string {
  const candidates = [typeof name === 'string' ? name : '', email ?? '', id];
  for (const candidate of candidates) {
    const clean = storableName(candidate);
    if (clean !== '') return clean;
  }
  return 'Qiscus agent';
}
