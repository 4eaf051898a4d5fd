// What a run record says about each guest, in words and in time spans: shared by the text report
// and the SVG timeline so both tell the same story.

import type { GuestReport, Outcome, PlanMode } from '../core/types.js';

export type PhaseKind = 'storage' | 'start' | 'ready' | 'clean' | 'hard';

export interface Phase {
  kind: PhaseKind;
  /** ms since epoch */
  from: number;
  to: number;
  /** storage: the SRs waited for (names), and whether they were plugged in the end. */
  srs?: string[];
  plugged?: boolean;
}

/** Which step ended the guest's part in the run, as a person would say it. */
export const OUTCOME_TEXT: Record<Outcome, string> = {
  started: 'started and ready',
  // Not "timed out": a Ctrl-C also ends the wait; the reason says which.
  'started-not-ready': 'started, readiness not confirmed',
  'start-failed': 'start failed',
  clean: 'clean shutdown',
  'hard-after-timeout': 'hard stop after clean timeout',
  'hard-by-policy': 'hard stop (on_stop=poweroff)',
  'hard-no-clean-path': 'hard stop (no clean shutdown path)',
  migrated: 'live-migrated to another host',
  'already-halted': 'already halted',
  'halted-by-itself': 'halted by itself',
  gone: 'deleted during the run',
  failed: 'failed',
  'not-attempted': 'not attempted',
  skipped: 'skipped',
};

/** Outcomes that make a run "not as planned" (non-zero exit). */
export const BAD_OUTCOMES: ReadonlySet<Outcome> = new Set<Outcome>([
  'started-not-ready',
  'start-failed',
  'hard-after-timeout',
  'hard-no-clean-path',
  'failed',
  'not-attempted',
]);

function time(iso: string | null): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : null;
}

/**
 * Boot: storage = the wait for an unplugged SR (storageWait), when there was one; start = startedAt
 * (or the end of that wait) → toolstack reported started (phase1EndAt), ready = that → readiness
 * confirmed (phase2At). A guest whose SR never came has no start step: it was never asked.
 * Shutdown: clean = startedAt → hard stop issued or end, when a clean request was issued
 * (phase1EndAt); hard = hard stop issued (phase2At) → end.
 * A missing end means the step was cut off by the next step or the end of the guest's part.
 */
export function guestPhases(g: GuestReport, mode: PlanMode): Phase[] {
  const started = time(g.startedAt);
  const p1 = time(g.phase1EndAt);
  const p2 = time(g.phase2At);
  const ended = time(g.endedAt);
  const phases: Phase[] = [];
  const push = (kind: PhaseKind, from: number | null, to: number | null, storage: Pick<Phase, 'srs' | 'plugged'> = {}) => {
    if (from !== null && to !== null && to >= from) phases.push({ kind, from, to, ...storage });
  };
  if (mode === 'boot') {
    const w = g.storageWait;
    if (w) {
      push('storage', time(w.startedAt), time(w.endedAt), { srs: w.srs, plugged: w.plugged });
      if (!w.plugged) return phases;
    }
    push('start', w ? time(w.endedAt) : started, p1 ?? ended);
    if (p1 !== null) push('ready', p1, p2 ?? ended);
  } else {
    if (p1 !== null) push('clean', started ?? p1, p2 ?? ended);
    if (p2 !== null) push('hard', p2, ended);
  }
  return phases;
}

export function phaseMillis(phases: Phase[], kind: PhaseKind): number | null {
  const p = phases.find((x) => x.kind === kind);
  return p ? p.to - p.from : null;
}
