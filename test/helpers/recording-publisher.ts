import assert from 'node:assert/strict';
import type { Ctx } from '../../src/context.js';
import { Assignments } from '../../src/realtime/access.js';
import { createPublisher, type Publisher, type PublisherDeps } from '../../src/realtime/publisher.js';
import type { Topics } from '../../src/realtime/topics.js';

/** What a test's publisher sent, in order. */
export type Published = { topic: string; payload: any }[];

/**
 * The realtime publisher with no broker: what it publishes is pushed onto
 * `published`, and an error it reports fails the test.
 */
export function recordingPublisher(
  ctx: Ctx,
  topics: Topics,
  published: Published,
  options: Omit<PublisherDeps, 'ctx' | 'topics' | 'assignments' | 'publish' | 'onError'> = {},
): Publisher {
  return createPublisher({
    ctx,
    topics,
    assignments: new Assignments(),
    publish: async (topic, payload) => void published.push({ topic, payload }),
    onError: (error) => assert.fail(String(error)),
    ...options,
  });
}
