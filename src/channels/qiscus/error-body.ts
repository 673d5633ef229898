// Qiscus error bodies carry `errors` either as a string or as an object with
// `message` (sometimes a top-level `message`); every caller reads them here.
import { storableText } from '../../events/outbound/send.js';

/**
 * The message, storable: JSON may spell a NUL (`\u0000`) or a lone surrogate
 * that parsing makes real, and the message goes into the conversation's
 * notes and reasons, which PostgreSQL would refuse (the settle's write failed).
 */
export function qiscusErrorMessage(body: string | null | undefined): string | null {
  return storableText(errorMessage(body));
}

function errorMessage(body: string | null | undefined): string | null {
  if (!body) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    const text = body.trim();
    return text === '' ? null : text.slice(0, 300);
  }
  if (typeof parsed !== 'object' || parsed === null) return String(parsed);
  const { errors, message, error } = parsed as { errors?: unknown; message?: unknown; error?: unknown };
  for (const candidate of [errors, error, message]) {
    if (typeof candidate === 'string' && candidate !== '') return candidate;
    if (typeof candidate === 'object' && candidate !== null) {
      const inner = (candidate as { message?: unknown }).message;
      if (typeof inner === 'string' && inner !== '') return inner;
      if (Array.isArray(candidate) && candidate.length > 0) return candidate.map(String).join('; ');
    }
  }
  return null;
}

/** 400 "Cant join room, exceed max agents": the room already has its agent (often ours, from an attempt whose answer was lost). */
export const saysRoomHasAgent = (message: string | null) => message !== null && /exceed max agent/i.test(message);

/**
 * The room was resolved meanwhile: nothing left to allocate. Said of the room
 * ("Room already resolved", "room is already resolved", "has been resolved"),
 * not a mention ("unresolved", "not resolved", "mark a room as resolved") nor
 * a doubt ("could not check whether the room is resolved"): acting on it
 * closes the room here.
 */
export const saysRoomResolved = (message: string | null) =>
  message !== null && /\b(?:already|is|was|been)\s+resolved\b/i.test(message) && !/\b(?:whether|if)\b[^.;,]*\bresolved\b/i.test(message);

/**
 * mark_as_resolved of a room Qiscus has resolved already. Stricter than
 * saysRoomResolved: a refusal that merely mentions resolving ("only admins
 * may mark a room as resolved") is no success.
 */
export const saysAlreadyResolved = (message: string | null) => message !== null && /\b(?:already|is|was|has been|been)\s+(?:marked\s+as\s+)?resolved\b/i.test(message);

/**
 * remove_agent of an agent who is not in the room (left it, or was never
 * added). Qiscus publishes no wording; this takes the usual phrasings.
 */
export const saysAgentNotInRoom = (message: string | null) =>
  message !== null && /\bnot (?:in|inside|a member of|a participant of|part of|found in|assigned to)\b|\bno longer in\b|\bnot found\b/i.test(message);
