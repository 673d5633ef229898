import pino, { type Logger } from 'pino';
import type { QiscusConfig } from './config.js';

// Seed 000's LOG_STACK=single,slack: besides the usual log, error-level
// events are posted to a Slack-compatible incoming webhook. Posting is best
// effort — a log line must never wait for, or fail because of, Slack.

const LEVEL_NAMES: Record<number, string> = { 50: 'ERROR', 60: 'FATAL' };
/** posts in flight at once; beyond that, lines are dropped (an error storm must not pile up sockets) */
const MAX_IN_FLIGHT = 8;

export function slackText(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.trim();
  }
  const { level, msg, time, pid: _pid, hostname, err, ...rest } = entry;
  const head = `*${LEVEL_NAMES[Number(level)] ?? 'LOG'}* ${typeof msg === 'string' ? msg : ''}`.trim();
  const error = err && typeof err === 'object' ? `\n> ${(err as { type?: string }).type ?? 'Error'}: ${(err as { message?: string }).message ?? ''}` : '';
  const context = Object.keys(rest).length > 0 ? `\n\`\`\`${JSON.stringify(rest)}\`\`\`` : '';
  const when = typeof time === 'number' ? ` (${new Date(time).toISOString()}${hostname ? ` on ${String(hostname)}` : ''})` : '';
  return `${head}${when}${error}${context}`;
}

export function slackStream(url: string, options: { timeoutMs?: number; fetchFn?: typeof fetch } = {}) {
  const fetchFn = options.fetchFn ?? fetch;
  let inFlight = 0;
  const pending = new Set<Promise<unknown>>();
  return {
    write(line: string): void {
      if (inFlight >= MAX_IN_FLIGHT) return;
      inFlight += 1;
      const post = fetchFn(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: slackText(line) }),
        signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
      })
        .then((res) => res.body?.cancel())
        .catch(() => undefined)
        .finally(() => {
          inFlight -= 1;
          pending.delete(post);
        });
      pending.add(post);
    },
    /** resolves when every post started so far has finished (tests, shutdown) */
    flushed: () => Promise.all([...pending]).then(() => undefined),
  };
}

/** The process logger: stdout ("single"), plus Slack for errors when LOG_STACK names it. */
export function createLogger(level: string, config: Pick<QiscusConfig, 'logStack' | 'slackWebhookUrl'>, stdout: { write(line: string): void } = process.stdout): Logger {
  if (!config.logStack.includes('slack') || !config.slackWebhookUrl) return pino({ level }, stdout as NodeJS.WritableStream);
  const streams: pino.StreamEntry[] = [{ level: 'error', stream: slackStream(config.slackWebhookUrl) }];
  if (config.logStack.includes('single')) streams.unshift({ level: level as pino.Level, stream: stdout });
  return pino({ level }, pino.multistream(streams));
}
