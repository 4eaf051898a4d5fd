// Live progress of start-all / stop-all. On a terminal one status line is redrawn in place (guests
// done/total, current group, time to the deadline) with each finished guest printed above it; when
// the output is a pipe or a file, plain lines only, one per finished guest and one per group.

import type { GuestStep, Progress } from '../../engine/hooks.js';
import { createInFlightTracker } from '../../engine/in-flight.js';
import type { PlanEntry, PlanMode } from '../../core/types.js';
import { monotonicNow } from '../../core/clock.js';
import { printable } from './table.js';
import { formatSeconds } from './units.js';

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressDisplay {
  progress(p: Progress): void;
  /** The engine's own status line (e.g. "waiting for 2 transitions"); shown on a terminal only. */
  status(line: string): void;
  /** Clear the live line; call before printing the summary. */
  finish(): void;
}

/** Steps after which the guest's part is over: worth a permanent line. */
const FINAL_STEPS: ReadonlySet<GuestStep> = new Set<GuestStep>([
  'ready',
  'not-ready',
  'start-failed',
  'halted',
  'stopped',
  'migrated',
  'failed',
  'not-attempted',
  'gone',
]);

/** Steps worth a line even though the guest's part goes on. */
const NOTABLE_STEPS: ReadonlySet<GuestStep> = new Set<GuestStep>(['storage-wait', 'clean-refused', 'cancel-requested', 'hard-requested', 'migrate-requested']);

const STEP_TEXT: Record<GuestStep, string> = {
  'storage-wait': 'its SR is not plugged on this host; plugging it before the start',
  'start-requested': 'start requested',
  'start-awaited': 'waiting for a start already in flight',
  started: 'started',
  ready: 'started and ready',
  'not-ready': 'started, readiness not confirmed',
  'start-failed': 'start FAILED',
  'clean-requested': 'clean shutdown requested',
  'clean-refused': 'clean shutdown refused; going to hard stop',
  halted: 'halted cleanly',
  'cancel-requested': 'clean timeout ran out; cancelling',
  'hard-requested': 'hard stop requested',
  'migrate-requested': 'live migration requested',
  migrated: 'live-migrated to another host',
  stopped: 'stopped',
  failed: 'FAILED',
  'not-attempted': 'not attempted',
  gone: 'gone (deleted meanwhile)',
};

export function stepText(step: GuestStep): string {
  return STEP_TEXT[step];
}

function groupText(p: Pick<Progress, 'group' | 'groups'>): string {
  return p.group === 0 ? 'final sweep' : `group ${p.group}/${p.groups}`;
}

/** The line redrawn in place on a terminal. */
export function liveLine(p: Progress, mode: PlanMode, deadlineAt: number | null, now: number, waiting = ''): string {
  const verb = mode === 'boot' ? 'up' : 'stopped';
  // What the run waits for comes early: on a narrow terminal the end of the line is cut.
  const parts = [`[${p.done}/${p.total}]`, groupText(p), ...(waiting ? [waiting] : []), `${p.succeeded} ${verb}`];
  if (deadlineAt !== null) parts.push(`${formatSeconds(Math.max(0, (deadlineAt - now) / 1000))} to deadline`);
  return parts.join(' · ');
}

export function eventLine(p: Progress): string {
  return `${printable(p.guest.name)} (${p.guest.uuid}): ${stepText(p.step)}  [${p.done}/${p.total} done, ${groupText(p)}]`;
}

export function createProgressDisplay(
  out: ProgressOutput,
  opts: { mode: PlanMode; deadlineAt: number | null; now?: () => number; monotonicNow?: () => number; entries?: readonly PlanEntry[] },
): ProgressDisplay {
  // One clock for the deadline and the time left per guest: the engine's (monotonic, safe from clock steps).
  const now = opts.now ?? monotonicNow;
  const elapsedNow = opts.monotonicNow ?? monotonicNow;
  const waits = createInFlightTracker(opts.entries ?? [], elapsedNow);
  const waitingLine = () => waits.line({ seconds: formatSeconds, name: printable });
  const tty = out.isTTY === true;
  let last: Progress | null = null;
  let shownGroup: string | null = null;
  let engineStatus = '';
  let drawn = false;
  let ticker: NodeJS.Timeout | undefined;

  const fit = (line: string) => {
    // A pseudo-terminal may report 0 columns: treat that as unknown.
    const width = Math.max(20, (out.columns || 80) - 1);
    return line.length > width ? line.slice(0, width - 1) + '…' : line;
  };
  const clear = () => {
    if (drawn) out.write('\r\x1b[2K');
    drawn = false;
  };
  const redraw = () => {
    if (!tty || (!last && !engineStatus)) return;
    clear();
    // The engine's group lines say what the live line says; its "waiting for …" lines add to it.
    const extra = waitingLine() || (/waiting/.test(engineStatus) ? engineStatus : '');
    const line = last ? liveLine(last, opts.mode, opts.deadlineAt, now(), extra) : engineStatus;
    out.write(fit(line));
    drawn = true;
  };
  const print = (line: string) => {
    clear();
    out.write(line + '\n');
  };

  if (tty) {
    // The time left (to the deadline, to each guest's timeout) keeps moving while guests take their time.
    ticker = setInterval(redraw, 1000);
    ticker.unref();
  }

  return {
    progress(p) {
      last = p;
      waits.track(p);
      const group = groupText(p);
      if (group !== shownGroup) {
        shownGroup = group;
        print(`-- ${group}`);
      }
      if (FINAL_STEPS.has(p.step) || NOTABLE_STEPS.has(p.step)) print(eventLine(p));
      redraw();
    },
    status(line) {
      engineStatus = line;
      redraw();
    },
    finish() {
      clearInterval(ticker);
      clear();
    },
  };
}
