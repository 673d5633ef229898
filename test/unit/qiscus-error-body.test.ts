// Qiscus error bodies as Switchboard reads them for notes and reasons:
// every shape Qiscus answers in, and nothing PostgreSQL would refuse to store.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { qiscusErrorMessage, saysRoomResolved } from '../../src/channels/qiscus/error-body.js';

it('reads the message of every error shape Qiscus answers with', () => {
  assert.equal(qiscusErrorMessage('{"errors":"Cant join room, exceed max agents"}'), 'Cant join room, exceed max agents');
  assert.equal(qiscusErrorMessage('{"errors":{"message":"room not found"}}'), 'room not found');
  assert.equal(qiscusErrorMessage('{"message":"unauthorized"}'), 'unauthorized');
  assert.equal(qiscusErrorMessage('{"errors":["a","b"]}'), 'a; b');
  assert.equal(qiscusErrorMessage(' gateway down '), 'gateway down');
  assert.equal(qiscusErrorMessage(''), null);
});

it('gives a NUL or a lone surrogate spelled in the JSON as U+FFFD: the message goes into notes PostgreSQL must store', () => {
  assert.equal(qiscusErrorMessage('{"errors":"bad\\u0000room"}'), 'bad\uFFFDroom');
  assert.equal(qiscusErrorMessage('{"errors":{"message":"x\\ud800y"}}'), 'x\uFFFDy');
});

it('hears "resolved" only where Qiscus says the room is: not "unresolved", nor a doubt about it', () => {
  for (const said of ['Room already resolved', 'Room is already resolved', 'room has been resolved', 'Room already resolved, no agent can be assigned']) assert.equal(saysRoomResolved(said), true, said);
  for (const said of ['room is unresolved', 'Room is not resolved yet', 'could not check whether room is resolved', 'cannot list agents: room resolved state unknown', 'Only admins may mark a room as resolved', null]) {
    assert.equal(saysRoomResolved(said), false, String(said));
  }
});
