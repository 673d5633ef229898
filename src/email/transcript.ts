import type { Attachment, Sender } from '../conversations/messages.js';

// A conversation as an email: the messages in order, each with who wrote it
// and when, as plain text and as HTML. Everything a customer or an agent
// typed is escaped in the HTML part (a message "<script>…" is shown, never
// run); attachments are links, never attached files.

export interface TranscriptLine {
  sender: Sender;
  /** the display name: the customer's or the agent's name */
  name: string;
  text: string | null;
  attachments: readonly Attachment[];
  at: Date;
}

export interface TranscriptInput {
  conversationId: string;
  customerName: string | null;
  startedAt: Date;
  /** the conversation's newest messages, oldest first (TRANSCRIPT_MAX_MESSAGES at most are read) */
  lines: readonly TranscriptLine[];
  /** how many messages the conversation has; lines.length when absent */
  total?: number;
}

/**
 * How much of a conversation a transcript holds: its newest 500 messages at
 * most, and of those the newest whose text and HTML together (UTF-8, before
 * the transfer encoding) come to 1 MB at most. A conversation can grow
 * without end (a bot, an API client), and all of it was read, rendered under
 * the conversation's lock and stored in the outbox, then base64 (a third
 * more): past a relay's size limit (often 10–25 MB) the email is refused
 * for good. One message of 10,000 characters, escaped in the HTML, is far
 * below the budget. docs/email.md says these numbers.
 */
export const TRANSCRIPT_MAX_MESSAGES = 500;
export const TRANSCRIPT_MAX_BYTES = 1_000_000;

export interface Rendered {
  subject: string;
  text: string;
  html: string;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** `2026-11-23 09:05 UTC`: mail clients show it as is, whatever the reader's zone. */
export const stamp = (d: Date) => `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** Only web links become <a href>: a javascript: or data: URL stays text. */
const linkable = (url: string) => /^https?:\/\//i.test(url);

/**
 * Every way a text line can end, as mail clients break lines: a lone CR
 * included (nodemailer sends it as CRLF). Split on \n only, a customer's
 * "\r[09:02 UTC] Bob Agent:" reached the text part unindented, a line
 * that read as the agent's.
 */
const LINE_BREAK = /\r\n|[\r\n\v\f\u0085\u2028\u2029]/;
const LINE_BREAKS = new RegExp(LINE_BREAK.source, 'g');

/**
 * A value on one line of the text part, its line breaks turned into spaces:
 * a name, a link's type and URL, an offline message's facts. Any one of
 * them left as given could start a line of its own (a customer's link of
 * type "image\n[09:02 UTC] Bob Agent (agent):" forged an agent's line).
 */
export const oneLine = (value: string) => value.replace(LINE_BREAKS, ' ');

/**
 * Who wrote a line, after the name: names are the customer's to choose (a
 * customer called "Bob Agent" wrote lines that read as the agent's), the
 * role is Switchboard's. Transcripts are in English, as the rest of them.
 */
const ROLE: Record<Sender, string> = { customer: 'customer', agent: 'agent', bot: 'bot', system: 'system' };

function renderLine(line: TranscriptLine): { text: string[]; html: string } {
  const role = ROLE[line.sender] ?? 'system';
  const text = [`[${stamp(line.at)}] ${oneLine(line.name)} (${role}):`];
  if (line.text) text.push(...line.text.split(LINE_BREAK).map((l) => `  ${l}`));
  for (const a of line.attachments) text.push(`  Attachment (${oneLine(a.type)}): ${oneLine(a.url)}`);
  text.push('');
  const links = line.attachments.map((a) =>
    linkable(a.url)
      ? `<div>Attachment (${escapeHtml(a.type)}): <a href="${escapeHtml(a.url)}">${escapeHtml(a.url)}</a></div>`
      : `<div>Attachment (${escapeHtml(a.type)}): ${escapeHtml(a.url)}</div>`,
  );
  const html =
    `<tr><td style="color:#666;white-space:nowrap;vertical-align:top;padding:4px 8px">${escapeHtml(stamp(line.at))}</td>` +
    `<td style="vertical-align:top;padding:4px 8px"><strong>${escapeHtml(line.name)}</strong> <span style="color:#666">(${role})</span>` +
    `${line.text ? `<div style="white-space:pre-wrap">${escapeHtml(line.text)}</div>` : ''}${links.join('')}</td></tr>`;
  return { text, html };
}

export function renderTranscript(input: TranscriptInput, maxBytes = TRANSCRIPT_MAX_BYTES): Rendered {
  const subject = `Transcript of your conversation of ${stamp(input.startedAt).slice(0, 10)}`;
  // The newest messages that fit, walking back from the last: a transcript is read for how the conversation ended.
  const kept: ReturnType<typeof renderLine>[] = [];
  let bytes = 0;
  for (let i = input.lines.length - 1; i >= 0; i--) {
    const rendered = renderLine(input.lines[i]!);
    bytes += Buffer.byteLength(rendered.text.join('\n')) + Buffer.byteLength(rendered.html);
    if (bytes > maxBytes) break;
    kept.push(rendered);
  }
  kept.reverse();
  const total = Math.max(input.total ?? input.lines.length, input.lines.length);
  const note =
    kept.length < total
      ? `Earlier messages are left out: this transcript holds the last ${kept.length} of the conversation's ${total} messages.`
      : undefined;
  const text: string[] = [`Conversation ${input.conversationId}, started ${stamp(input.startedAt)}`, ''];
  if (note) text.push(note, '');
  for (const line of kept) text.push(...line.text);
  if (total === 0) text.push('(no messages)');
  const html =
    `<!doctype html><html><body style="font-family:sans-serif">` +
    `<p>Conversation ${escapeHtml(input.conversationId)}, started ${escapeHtml(stamp(input.startedAt))}</p>` +
    (note ? `<p><em>${escapeHtml(note)}</em></p>` : '') +
    `<table style="border-collapse:collapse">${kept.map((l) => l.html).join('') || (total === 0 ? '<tr><td>(no messages)</td></tr>' : '')}</table>` +
    `</body></html>`;
  return { subject, text: text.join('\n'), html };
}

export interface OfflineInput {
  conversationId: string;
  name: string;
  email: string;
  department: string | null;
  message: string;
  at: Date;
}

/** The team's copy of an offline message: answering it replies to the customer. */
export function renderOfflineMessage(input: OfflineInput): Rendered {
  // Cut by characters: 200 UTF-16 units could end half way through an emoji, and half of one
  // has no UTF-8 form; the row that carries the subject (jsonb) refused it and took the
  // customer's message with it (found by review).
  const subject = Array.from(oneLine(`Offline message from ${input.name}`)).slice(0, 200).join('');
  // One fact a line: the form refuses line breaks in the name and the
  // department, and here none can add a line either ("sales\nFrom: CEO …").
  const facts: [string, string][] = [
    ['From', oneLine(`${input.name} <${input.email}>`)],
    ['Department', oneLine(input.department ?? '(none)')],
    ['Received', stamp(input.at)],
    ['Conversation', input.conversationId],
  ];
  const text = [...facts.map(([k, v]) => `${k}: ${v}`), '', input.message, ''].join('\n');
  const html =
    `<!doctype html><html><body style="font-family:sans-serif"><table>` +
    facts.map(([k, v]) => `<tr><th style="text-align:left;padding-right:8px">${k}</th><td>${escapeHtml(v)}</td></tr>`).join('') +
    `</table><div style="white-space:pre-wrap;margin-top:12px">${escapeHtml(input.message)}</div></body></html>`;
  return { subject, text, html };
}
