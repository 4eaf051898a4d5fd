// Status lines a person reads in `systemctl status` or a terminal, and the throttle that keeps a
// 1,000-guest run from emitting thousands of them.

import { secondsLeft } from './budget.js';

export function bootStatus(s: { group: number; groups: number; up: number; total: number; failed: number }): string {
  const failed = s.failed ? `, ${s.failed} failed` : '';
  return `starting group ${s.group}/${s.groups}: ${s.up}/${s.total} guests up${failed}`;
}

export function shutdownStatus(s: {
  phase: 'group' | 'sweep' | 'transitions';
  group: number;
  groups: number;
  left: number;
  deadlineAt: number;
  now: number;
}): string {
  const toDeadline = `${secondsLeft(s.deadlineAt, s.now)} s to deadline`;
  switch (s.phase) {
    case 'group':
      return `stopping group ${s.group}/${s.groups}: ${s.left} left, ${toDeadline}`;
    case 'sweep':
      return `stopping guests started meanwhile: ${s.left} left, ${toDeadline}`;
    case 'transitions':
      return `waiting for ${s.left} transition${s.left === 1 ? '' : 's'} to finish, ${toDeadline}`;
  }
}

export interface StatusThrottle {
  /** Offer the current line; it is emitted now or at the end of the interval, whichever is allowed. */
  update(line: string): void;
  /** Emit the newest pending line now and stop the timer (end of a run). */
  flush(): void;
}

/**
 * At most one line per `intervalMs`. The newest line always gets out: a line held back is emitted
 * when the interval ends, so the last state of a burst is never lost.
 */
export function throttleStatus(emit: (line: string) => void, intervalMs: number, now: () => number): StatusThrottle {
  let lastAt = -Infinity;
  let lastLine: string | null = null;
  let pending: string | null = null;
  let timer: NodeJS.Timeout | undefined;

  function send(line: string): void {
    pending = null;
    if (line === lastLine) return;
    lastLine = line;
    lastAt = now();
    emit(line);
  }
  function fire(): void {
    timer = undefined;
    if (pending !== null) send(pending);
  }
  return {
    update(line) {
      const wait = lastAt + intervalMs - now();
      if (wait <= 0 && timer === undefined) return send(line);
      pending = line;
      if (timer === undefined) {
        timer = setTimeout(fire, Math.max(0, wait));
        timer.unref();
      }
    },
    flush() {
      clearTimeout(timer);
      timer = undefined;
      if (pending !== null) send(pending);
    },
  };
}
