// The statistics client (src/customers/statistics.ts) against a fake fetch:
// the 1 MiB limit on an answer counted in bytes as they arrive (a chunked
// answer, with no content-length, is not read past it), and calls in flight
// shared whatever STATISTICS_CACHE_TTL is.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { statisticsClient } from '../../src/customers/statistics.js';
import type { CustomersConfig } from '../../src/customers/config.js';

const MiB = 1024 * 1024;
const TOO_LARGE = `the statistics service answered more than ${MiB} bytes`;
const config = (statisticsCacheMs: number): CustomersConfig => ({
  statisticsBaseEndpoint: 'http://stats.invalid',
  statisticsTimeoutMs: 10_000,
  statisticsCacheMs,
  identity: { secret: undefined, previousSecret: undefined, previousUntil: undefined },
});
const at = () => new Date('2026-05-06T07:08:09Z');
type Ranges = { configured: true; last_24_hours: { ok: boolean; error?: string; items?: unknown }; last_7_days: { ok: boolean; error?: string } };

/** A chunked answer (no content-length) of `total` bytes of JSON whitespace then `[]`, counting what was pulled and whether it was cancelled. */
function endless(total: number) {
  const seen = { pulled: 0, cancelled: 0 };
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  const fetchImpl = (async () => {
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (seen.pulled >= total) {
          controller.enqueue(new TextEncoder().encode('[]'));
          controller.close();
          return;
        }
        seen.pulled += chunk.length;
        controller.enqueue(chunk);
      },
      cancel() {
        seen.cancelled += 1;
      },
    });
    return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
  return { seen, fetchImpl };
}

const streamed = (text: string) =>
  (async () => new Response(new Blob([text]).stream(), { status: 200, headers: { 'content-type': 'application/json' } })) as typeof fetch;

/** A JSON answer of exactly `bytes` bytes of UTF-8, most of it two-byte é (so far fewer UTF-16 units than bytes). */
function answerOf(bytes: number): string {
  const frame = (value: string) => JSON.stringify([{ label: 'x', value }]);
  const room = bytes - Buffer.byteLength(frame(''));
  const text = frame('é'.repeat(Math.floor(room / 2)) + 'a'.repeat(room % 2));
  assert.equal(Buffer.byteLength(text), bytes);
  return text;
}

it('stops reading a chunked answer once it passes 1 MiB, cancels it, and fails the range as too large', async () => {
  const { seen, fetchImpl } = endless(64 * MiB);
  const answer = (await statisticsClient(config(0), at, fetchImpl).forCustomer('c1')) as Ranges;
  assert.equal(answer.last_24_hours.ok, false);
  assert.equal(answer.last_24_hours.error, TOO_LARGE);
  assert.equal(answer.last_7_days.error, TOO_LARGE);
  assert.equal(seen.cancelled, 2, 'both ranges cancelled their answer');
  // both ranges together: about 1 MiB each (and a chunk or two the stream queued ahead), not 64
  assert.ok(seen.pulled <= 4 * MiB, `read ${(seen.pulled / MiB).toFixed(1)} MiB of two 64 MiB answers`);
});

it('counts an answer in bytes: 1 MiB of multi-byte text is taken, one byte more is refused', async () => {
  const exact = answerOf(MiB);
  assert.ok(exact.length < MiB * 0.6, 'far fewer UTF-16 units than bytes');
  const taken = (await statisticsClient(config(0), at, streamed(exact)).forCustomer('c2')) as Ranges;
  assert.equal(taken.last_24_hours.ok, true, JSON.stringify(taken.last_24_hours.error));
  assert.deepEqual(taken.last_24_hours.items, JSON.parse(exact), 'decoded as UTF-8, intact');

  const over = (await statisticsClient(config(0), at, streamed(answerOf(MiB + 1))).forCustomer('c3')) as Ranges;
  assert.equal(over.last_24_hours.ok, false, 'one byte over 1 MiB (0.5 M UTF-16 units) is refused');
  assert.equal(over.last_24_hours.error, TOO_LARGE);

  const large = JSON.stringify([{ label: 'x', value: 'é'.repeat(1_000_000) }]); // ~1.9 MiB, 0.95 M units
  const refused = (await statisticsClient(config(0), at, streamed(large)).forCustomer('c4')) as Ranges;
  assert.equal(refused.last_24_hours.error, TOO_LARGE);
});

it('shares a call in flight until it answers, with STATISTICS_CACHE_TTL=0 and with a service slower than the TTL', async () => {
  for (const [ttl, step] of [
    [0, 0],
    [1_000, 5_000], // the clock passes the TTL while the first call is still out
  ] as const) {
    let clock = at().getTime();
    const calls: string[] = [];
    const answers: (() => void)[] = [];
    const fetchImpl = ((url: string) => {
      calls.push(url);
      return new Promise<Response>((resolve) => answers.push(() => resolve(Response.json([{ label: 'n', value: String(calls.length) }]))));
    }) as unknown as typeof fetch;
    const client = statisticsClient(config(ttl), () => new Date(clock), fetchImpl);
    const first = client.forCustomer('c5');
    clock += step;
    const second = client.forCustomer('c5');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(calls.length, 2, `TTL ${ttl}: one call per range for two requests at once`);
    for (const answer of answers) answer();
    const [a, b] = (await Promise.all([first, second])) as Ranges[];
    assert.deepEqual(a, b, `TTL ${ttl}: the second request got the first one's answer`);
    // once answered, the TTL rules again: past it, the service is asked anew
    clock += ttl + 1;
    const third = client.forCustomer('c5');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(calls.length, 4, `TTL ${ttl}: asked again once the answer is older than the TTL`);
    for (const answer of answers.slice(2)) answer();
    await third;
  }
});
