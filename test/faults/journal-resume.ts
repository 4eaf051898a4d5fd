// Rows P7 and K7 share one scenario: a daemon killed in the boot plan, an admin hard-stopping a guest
// it had started, and a journal line for a guest whose start was never sent; a new daemon in the same
// boot must tell the two apart. This is the scenario and the judgment of its outcome, from the
// simulator's timeline and the boot report.

import { expect } from 'vitest';
import { count } from '../e2e/timeline.js';
import { on, type Scene } from './harness.js';
import { reportOf } from './invariants.js';
import type { Recorder } from './matrix.js';

export const journalResumeGuests = () => [
  { name_label: 'g-admin', order: 1, other_config: on() },
  { name_label: 'g-wait', order: 2, other_config: on({ 'xen-guests:ready': 'agent' }), behaviour: { agent_s: 200 } },
  { name_label: 'g-never', order: 3, other_config: on() },
];

/** After the new daemon's boot plan: g-admin not started again, g-never started once. */
export async function judgeJournalResume(s: Scene, rec: Recorder): Promise<void> {
  const t = await s.timelines();
  expect(count(t.get('g-admin'), 'start requested')).toBe(1);
  expect(reportOf(await s.report('boot'), 'g-admin')?.outcome).toBe('not-attempted');
  rec.held('g-admin (started, then hard-stopped by the admin) was not started again: one start request in the timeline, reported not-attempted');
  expect(count(t.get('g-never'), 'start requested')).toBe(1);
  expect(count(t.get('g-never'), 'running')).toBe(1);
  rec.held('g-never (journalled, never sent) was started, once');
}
