import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseGroup } from '../../src/simulate/flags.js';
import { parseRoutingFlag, parseSkills, routingPolicies } from '../../src/simulate/policy.js';

// The simulator's policy flags: the compact flag form, the file form, and
// the API's own checks applied to both.

describe('simulate: --routing and --routing-file', () => {
  it('reads the compact form: overflow steps, skills, numbers and null', () => {
    assert.deepEqual(parseRoutingFlag('sales:mode=offer,offer_timeout_s=20,overflow=support@60|billing@300,required_skills=spanish:2+billing:1,sla_first_response_s=null'), {
      department: 'sales',
      change: {
        mode: 'offer',
        offer_timeout_s: 20,
        overflow: [
          { to: 'support', after_s: 60 },
          { to: 'billing', after_s: 300 },
        ],
        required_skills: { spanish: 2, billing: 1 },
        sla_first_response_s: null,
      },
    });
  });

  it('lays the flags over the file, field by field, and checks the result as the API does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-policy-'));
    try {
      const file = join(dir, 'policies.json');
      await writeFile(file, JSON.stringify({ sales: { mode: 'offer', offer_timeout_s: 30 }, support: { aging_per_min: 0.5 } }));
      assert.deepEqual(await routingPolicies(['sales:offer_timeout_s=10'], file), {
        sales: { mode: 'offer', offer_timeout_s: 10 },
        support: { aging_per_min: 0.5 },
      });
      await writeFile(file, JSON.stringify({ sales: { overflow: [{ after_s: 300, to: 'a' }, { after_s: 60, to: 'b' }] } }));
      await assert.rejects(routingPolicies([], file), /--routing-file sales: overflow\[1\]\.after_s must not be less than the step before it/);
      await writeFile(file, '[1]');
      await assert.rejects(routingPolicies([], file), /--routing-file .*: expected an object of department → routing settings/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses values the API refuses, naming the field', async () => {
    await assert.rejects(routingPolicies(['sales:aging_per_min=-1'], undefined), /--routing sales: aging_per_min: .*0/);
    await assert.rejects(routingPolicies(['sales:manual_order=random'], undefined), /--routing sales: manual_order/);
    await assert.rejects(routingPolicies(['sales:overflow=support'], undefined), /an overflow step is department@after_s/);
    await assert.rejects(routingPolicies(['sales'], undefined), /--routing is department:field=value/);
    assert.throws(() => parseSkills('Spanish:2', '--group skills'), /--group skills: .*Spanish|pattern/i);
  });

  it('gives a group of agents skills', () => {
    assert.deepEqual(parseGroup('count=2,departments=help,skills=spanish:3+billing:1').skills, { spanish: 3, billing: 1 });
    assert.deepEqual(parseGroup('count=2').skills, {});
  });
});
