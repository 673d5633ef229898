import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { command, ROUTING_EXAMPLES, runExample } from '../../src/simulate/routing-examples.js';
import '../helpers/pglite-template.js'; // the simulator's store starts from the shared migrated dump

// docs/routing.md's simulated examples stay true: each documented command is
// the one src/simulate/routing-examples.ts runs, and each run shows the effect
// its paragraph claims, with the engine's checks clean (the CLI exits 1 on a
// violated check, and runExample throws). Separate from the policy tests so
// each file keeps within the runner's time per file.

describe('docs/routing.md: the simulated examples', () => {
  for (const example of ROUTING_EXAMPLES) {
    it(`${example.mode}: the documented command runs clean and ${example.claim}`, async () => {
      const doc = await readFile('docs/routing.md', 'utf8');
      assert.ok(doc.includes(command([...example.base, ...example.policy])), `docs/routing.md shows the ${example.mode} example's command`);
      assert.ok(doc.includes(`img/routing-${example.mode}.svg`), `docs/routing.md shows the ${example.mode} picture`);
      const { base, policy } = await runExample(example);
      assert.ok(example.holds(base, policy), `the ${example.mode} example's claim: ${example.claim}`);
      for (const r of [base, policy]) {
        assert.equal(r.checks.work_conservation_violations + r.checks.fifo_violations + r.checks.sweep_assignments + (r.checks.sticky_violations ?? 0), 0, r.checks.examples.join('\n'));
      }
    });
  }
});
