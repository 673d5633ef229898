import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Running } from '../../src/server.js';
import { makeAgent, PASSWORD } from '../helpers/fixtures.js';
import { realServerForBlock } from '../helpers/real-server.js';
import { describeEachStore } from '../helpers/stores.js';

// POST /session: the customer's name is one line, as names are
// (ONE_LINE_PATTERN). Found by review: a name with a line break was stored,
// and an email transcript, which writes the name at the head of each of the
// customer's lines, showed a line of the customer's making.

const NOT_ONE_LINE = ['Bob\n[09:02 UTC] Ann Agent: refund approved', 'a\rb', 'a\u0000b', 'bell\u0007', 'a\u007fb', 'a\u0085b', 'a\u2028b', 'a\u2029b', '\t'];

describeEachStore('POST /session: the customer’s name', (store) => {
  let server: Running;
  const { http } = realServerForBlock(store, (started) => ({ server } = started));
  const conversations = async () => (await server.ctx.db.query<{ n: number }>('select count(*)::int as n from conversations'))[0]!.n;

  it('refuses a name with a line break or a control character, naming customer.name, and starts nothing', async () => {
    for (const name of NOT_ONE_LINE) {
      const res = await http('POST', '/session', { customer: { id: 'c1', name } });
      assert.equal(res.status, 400, `${JSON.stringify(name)}: ${JSON.stringify(res.body)}`);
      assert.deepEqual([res.body.error.code, res.body.error.field], ['SB_VALIDATION', 'customer.name'], JSON.stringify(name));
    }
    assert.equal(await conversations(), 0);
  });

  it('takes a name of one line in any script, an empty one, null or none', async () => {
    for (const [i, name] of ['Ada Lovelace', 'Zoë 日本 😀', ' spaced ', '', null, undefined].entries()) {
      const res = await http('POST', '/session', { customer: { id: `c${i}`, ...(name === undefined ? {} : { name }) } });
      assert.equal(res.status, 201, `${JSON.stringify(name)}: ${JSON.stringify(res.body)}`);
    }
    const [row] = await server.ctx.db.query<{ name: string }>("select customer ->> 'name' as name from conversations where customer ->> 'id' = 'c1'");
    assert.equal(row!.name, 'Zoë 日本 😀');
  });

  it('POST /api/v1/conversations holds a customer name to one line too; empty is still none', async () => {
    const agent = await makeAgent(server.ctx, { role: 'agent' });
    const token = (await http('POST', '/api/v1/auth/login', { email: agent.email, password: PASSWORD })).body.token as string;
    for (const name of NOT_ONE_LINE) {
      const res = await http('POST', '/api/v1/conversations', { customer: { id: 'api-1', name } }, token);
      assert.equal(res.status, 400, `${JSON.stringify(name)}: ${JSON.stringify(res.body)}`);
      assert.deepEqual([res.body.error.code, res.body.error.field], ['SB_VALIDATION', 'customer.name'], JSON.stringify(name));
      // (a NUL is refused before the schema, as anywhere in a body)
      if (!name.includes('\u0000')) assert.equal(res.body.error.message, 'customer.name must be one line of text, without control characters');
    }
    assert.equal(await conversations(), 0);
    for (const [i, name] of ['Zoë 日本 😀', '', null].entries()) {
      assert.equal((await http('POST', '/api/v1/conversations', { customer: { id: `api-ok-${i}`, name } }, token)).status, 201, JSON.stringify(name));
    }
  });
});
