// The process exit codes of the daemon and of every command, defined once.

import type { GuestReport } from './types.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
/** Bad arguments or config given on the command line. */
export const EXIT_USAGE = 2;
/**
 * Done, but not entirely as planned: hard-stopped after a timeout, or without a clean path the plan
 * had counted on; started but not ready. A hard stop the plan itself foresaw is as planned.
 */
export const EXIT_DEGRADED = 3;
/**
 * EX_TEMPFAIL (sysexits.h): someone else acts on this state directory now — a second daemon while one
 * runs, or start-all/stop-all while the daemon's boot plan or host shutdown (or another run) acts.
 */
export const EXIT_BUSY = 75;
/** EX_CONFIG (sysexits.h): a bad config file — from `config check`, every admin command and the daemon alike. */
export const EXIT_CONFIG = 78;

/**
 * A guest the plan already marked for a hard stop at once (no clean path: no PV drivers, paused,
 * clean_shutdown blocked) that was then hard-stopped for that reason: what the plan said, not a
 * degraded run. Without this, every shutdown of a host with an intentionally driverless guest would
 * exit 3 and "did not go as planned", and real trouble would hide behind a permanent alarm.
 */
export function foreseenHardStop(g: Pick<GuestReport, 'action' | 'outcome'>): boolean {
  return g.outcome === 'hard-no-clean-path' && g.action === 'hard-shutdown';
}
