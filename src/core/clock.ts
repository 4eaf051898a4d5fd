// Time, in two kinds. Every wait, deadline and budget runs on the monotonic clock: it never steps
// when chronyd/ntpd corrects the wall clock, so a +1 h step cannot end a wait early and a −1 h step
// cannot stretch one. Wall time is only for what a person reads (reports, log lines, ISO stamps).
//
// The monotonic reading is CLOCK_MONOTONIC in ms (process.hrtime on Linux): the same for every
// process of one boot, so an instant on it may be stored and read back by a restarted daemon of
// the same boot — together with the boot id, since it restarts from about zero at every boot.

export interface Clock {
  /** Monotonic ms (CLOCK_MONOTONIC): for every wait, deadline and budget. */
  now(): number;
  /** Wall time, ms since the epoch: only for what people read. */
  wallNow(): number;
}

/** What moves the runtime's own reading onto the boot's clock (0 on Node; see calibrateMonotonic). */
let runtimeOffsetMs = 0;

/** CLOCK_MONOTONIC in whole ms (as Date.now counts wall ms); shared by all processes of one boot on Linux. */
export function monotonicNow(): number {
  return Number(process.hrtime.bigint() / 1_000_000n) + runtimeOffsetMs;
}

/**
 * Node's process.hrtime reads CLOCK_MONOTONIC; Bun's (the packaged executable) counts from its own
 * process start, so a deadline one daemon stores would mean nothing to the next. The composition
 * root measures the difference once, at start (src/app/boot-clock.ts), and sets it here.
 */
export function calibrateMonotonic(offsetMs: number): void {
  runtimeOffsetMs = offsetMs;
}

export const systemClock: Clock = { now: monotonicNow, wallNow: () => Date.now() };

/** A deadline `ms` from now on the monotonic clock. */
export function deadlineIn(ms: number, clock: Clock = systemClock): number {
  return clock.now() + ms;
}

/** Monotonic ms left until `deadline` (never negative). */
export function msLeft(deadline: number, clock: Clock = systemClock): number {
  return Math.max(0, deadline - clock.now());
}

/** The longest delay setTimeout takes; a longer one fires after 1 ms (Node's TimeoutOverflowWarning). */
export const LONGEST_TIMER_MS = 2 ** 31 - 1;

/** A setTimeout delay for `ms`: never negative, and a deadline past ~24.8 days waits that long instead of firing at once. */
export function timerDelay(ms: number): number {
  return Math.min(Math.max(0, ms), LONGEST_TIMER_MS);
}

/**
 * The wall time a person would have read at a monotonic instant: projected through the wall clock
 * as it reads now. Spans between instants projected together stay true even across a clock step.
 */
export function wallTimeOf(monotonicMs: number, clock: Clock = systemClock): number {
  return clock.wallNow() + (monotonicMs - clock.now());
}

/** The monotonic instant at which the wall clock (as it reads now) read `wallMs`: for a stored wall stamp. */
export function monotonicOf(wallMs: number, clock: Clock = systemClock): number {
  return clock.now() - (clock.wallNow() - wallMs);
}

/** ISO text of the wall time at a monotonic instant. */
export function wallIso(monotonicMs: number, clock: Clock = systemClock): string {
  return new Date(wallTimeOf(monotonicMs, clock)).toISOString();
}

/**
 * A monotonic instant that may outlive this process: valid only in the boot that wrote it, since
 * CLOCK_MONOTONIC starts again at every boot.
 */
export interface BootInstant {
  bootId: string;
  monotonicMs: number;
}

/** The instant on this boot's monotonic clock, or null when it was written in another boot. */
export function instantInThisBoot(stored: BootInstant, bootId: string): number | null {
  return stored.bootId === bootId && Number.isFinite(stored.monotonicMs) ? stored.monotonicMs : null;
}
