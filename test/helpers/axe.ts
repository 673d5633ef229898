import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Frame, Page } from 'playwright-core';

// axe-core's WCAG 2.1 A and AA rules (issue #18, item 9), run in the page
// as it stands. The source is evaluated through the browser's debugging
// protocol rather than added as a <script>: the console and the widget
// forbid inline scripts (Content-Security-Policy), and a test should not
// have to weaken the policy it also checks.

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export const WCAG_21_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; failureSummary?: string }[];
}

/**
 * The WCAG 2.1 AA violations in `target` (a page or a frame), one line each:
 * rule, impact, what it asks and the first elements at fault — empty when
 * it passes. `include` narrows the check to a part of the page (a CSS
 * selector), e.g. the launcher the widget adds to someone else's page.
 */
export async function accessibilityViolations(target: Page | Frame, include?: string): Promise<string[]> {
  const loaded = await target.evaluate(() => typeof (window as { axe?: unknown }).axe === 'object');
  if (!loaded) await target.evaluate(axeSource);
  const violations = await target.evaluate(
    async ({ include, tags }) => {
      const axe = (window as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: Violation[] }> } }).axe;
      const result = await axe.run(include ? { include: [include] } : document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
      return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) }));
    },
    { include, tags: WCAG_21_AA },
  );
  return violations.map(
    (v) => `${v.id} (${v.impact ?? 'n/a'}): ${v.help} — ${v.nodes.slice(0, 4).map((n) => `${n.target.join(' ')}${n.failureSummary ? ` [${n.failureSummary.replace(/\s+/g, ' ').slice(0, 160)}]` : ''}`).join('; ')}${v.nodes.length > 4 ? ` (+${v.nodes.length - 4} more)` : ''}`,
  );
}
