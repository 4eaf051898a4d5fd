// `plan` says how the guests inside each group are ordered and, per guest, what the last run of
// this kind says of it: the rule line and the LAST TIME column, from plan records built by hand.

import { describe, expect, it } from 'vitest';
import { renderPlan } from '../../src/cli/format/plan.js';
import type { Plan } from '../../src/core/types.js';
import { entry, samplePlan } from './fixtures.js';

function shutdownPlan(over: Partial<Plan>): Plan {
  const groups = [{
    order: 0,
    entries: [
      entry('hung', { action: 'clean-shutdown', timeout: 180, ready: null, lastRun: { seconds: 182.4, outcome: 'hard-after-timeout', rankedBy: 182.4 } }),
      entry('fresh', { action: 'clean-shutdown', timeout: 180, ready: null, lastRun: { seconds: null, outcome: null, rankedBy: 12 } }),
      entry('broke', { action: 'clean-shutdown', timeout: 180, ready: null, lastRun: { seconds: null, outcome: 'failed', rankedBy: 12 } }),
      entry('quick', { action: 'clean-shutdown', timeout: 180, ready: null, lastRun: { seconds: 1.2, outcome: 'clean', rankedBy: 1.2 } }),
    ],
  }];
  return samplePlan({ mode: 'shutdown', groups, ...over });
}

describe('plan: the order within a group', () => {
  it('longest first from the last shutdown: the rule, and each guest\'s time or why it has none', () => {
    const text = renderPlan(shutdownPlan({ withinGroup: { rule: 'longest-first', lastRun: { startedAt: '2026-11-01T22:00:00.000Z', trigger: 'host shutdown' } } }));
    expect(text).toContain('Within each group: longest first, by how long each guest took from its request to halted in the last shutdown (2026-11-01T22:00:00.000Z, host shutdown); LAST TIME says it.');
    const rows = text.split('\n').filter((l) => /^ {2}(GUEST|hung|fresh|broke|quick) /.test(l));
    expect(rows[0]).toMatch(/GUEST +UUID +ACTION +CLEAN TIMEOUT +LAST TIME +NOTE/);
    expect(rows[1]).toMatch(/hung .* 3m2s hard-after-timeout/);
    expect(rows[2]).toMatch(/fresh .* \? \(not in it; ranked as 12\.0s\)/);
    expect(rows[3]).toMatch(/broke .* \? \(failed: no duration; ranked as 12\.0s\)/);
    expect(rows[4]).toMatch(/quick .* 1\.2s clean/);
  });

  it('no last report yet, or name order by config: said so, and no LAST TIME column', () => {
    const bare = shutdownPlan({});
    for (const g of bare.groups) for (const e of g.entries) delete e.lastRun;
    const none = renderPlan({ ...bare, withinGroup: { rule: 'longest-first', lastRun: null } });
    expect(none).toContain('Within each group: by name for now — longest first (shutdown.order_within_group) learns from the last shutdown report, and there is none for this host yet.');
    expect(none).not.toContain('LAST TIME');
    const byName = renderPlan({ ...bare, withinGroup: { rule: 'name', lastRun: null } });
    expect(byName).toContain('Within each group: by name (shutdown.order_within_group = name).');
    expect(byName).not.toContain('LAST TIME');
  });
});
