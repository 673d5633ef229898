// The words the loader (widget.js) and the widget's frame exchange: a page
// may run an older loader against a newer frame (a tab opened before an
// upgrade), so the words on the wire stay as they were.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLOSE, FRAME_READY, greetingAnswer, greetingMessage, HIDDEN, SHOWN, unseenCount, unseenMessage } from '../../web/shared/frame-messages.js';

describe('loader and frame messages', () => {
  it('keep the words loaders already out there send and expect', () => {
    assert.deepEqual([CLOSE, FRAME_READY, SHOWN, HIDDEN], ['switchboard:close', 'switchboard:frame-ready', 'switchboard:shown', 'switchboard:hidden']);
    assert.equal(unseenMessage(3), 'switchboard:unseen:3');
    assert.equal(greetingMessage('skipped'), 'switchboard:greeting-skipped');
  });

  it('read back an unseen count, and nothing from a count that is not a whole number from 0', () => {
    assert.equal(unseenCount(unseenMessage(0)), 0);
    assert.equal(unseenCount(unseenMessage(120)), 120);
    for (const data of ['switchboard:unseen:', 'switchboard:unseen:-1', 'switchboard:unseen:1.5', 'switchboard:unseen:x', 'switchboard:unseen:1e400', 'switchboard:unseen:0x1f', 'switchboard:unseen: ', 42, null, { count: 1 }]) {
      assert.equal(unseenCount(data), undefined, String(data));
    }
  });

  it('read back each greeting answer, and nothing from another word', () => {
    for (const answer of ['shown', 'closed', 'skipped', 'chat'] as const) assert.equal(greetingAnswer(greetingMessage(answer)), answer);
    for (const data of ['switchboard:greeting-', 'switchboard:greeting-opened', 'switchboard:greeting-shown ', 'switchboard:close', undefined]) {
      assert.equal(greetingAnswer(data), undefined, String(data));
    }
  });
});
