// A Qiscus agent's name is whatever an admin typed in Qiscus. One that
// PostgreSQL cannot store (a NUL, a lone surrogate) once rolled back every
// allocation pass, so no room went to anyone; names are now made storable
// as Qiscus lists them.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { FakeQiscus } from '../helpers/fake-qiscus.js';
import { eachTestWithFakeQiscus, type WithFakeQiscus } from '../helpers/qiscus-harness.js';
import { describeEachStore } from '../helpers/stores.js';

describeEachStore('Qiscus agents with names PostgreSQL cannot store as they are', (store) => {
  let fake: FakeQiscus;
  let harness: WithFakeQiscus['harness'];
  eachTestWithFakeQiscus(store, (fresh) => ({ fake, harness } = fresh));

  const mirrorNames = async () =>
    (await store().db.query<{ name: string }>(`select name from agents where source = 'qiscus' order by external_ref::int`)).map((r) => r.name);

  it('assigns every room although listed agents have a NUL, a lone surrogate, control characters or an enormous name', async () => {
    const h = await harness();
    fake.addAgents(1, { name: 'Bad\u0000Name' });
    fake.addAgents(1, { name: 'Lone \uD800 half' });
    fake.addAgents(1, { name: ` ${'é'.repeat(150)}${'😀'.repeat(100_000)}` });
    fake.addAgents(1, { name: '\tAda\r\nLovelace\u0007 ' });
    fake.addAgents(1);
    const rooms = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
    for (const room of rooms) assert.equal((await h.webhook(room)).statusCode, 200);
    await h.settle();
    assert.deepEqual([...fake.rooms.keys()].sort(), rooms);
    assert.deepEqual(await mirrorNames(), ['BadName', 'Lone \uFFFD half', `${'é'.repeat(150)}${'😀'.repeat(50)}`, 'Ada Lovelace', 'Agent 5']);
  });

  it('names an agent whose name is nothing but controls and spaces by their e-mail, else their Qiscus id', async () => {
    const h = await harness();
    fake.addAgents(1, { name: '\u0000 \u0000', email: ' ada@fake.test ' });
    fake.addAgents(1, { name: '   ', email: '\u0000' });
    assert.equal((await h.webhook('r1')).statusCode, 200);
    await h.settle();
    assert.equal(fake.rooms.get('r1')?.length, 1);
    assert.deepEqual(await mirrorNames(), ['ada@fake.test', '2']);
  });
});
