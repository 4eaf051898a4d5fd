// What each state file must look like when read back. The lists of allowed words are written as
// Record<Union, true> so that the compiler flags this file when core/types.ts grows a new word.

import type { OnStart, OnStop, Outcome, PlanAction, PlanMode } from '../core/types.js';
import type { PowerState } from '../core/guest.js';
import { any, arrayOf, bool, isoTime, nullable, num, object, oneOf, optional, recordOf, str, type Check } from './validate.js';
import type { RecordScope } from './scope.js';

const words = <T extends string>(all: Record<T, true>): T[] => Object.keys(all) as T[];

export const OUTCOMES = words<Outcome>({
  started: true,
  'started-not-ready': true,
  'start-failed': true,
  clean: true,
  'hard-after-timeout': true,
  'hard-by-policy': true,
  'hard-no-clean-path': true,
  migrated: true,
  'already-halted': true,
  'halted-by-itself': true,
  gone: true,
  failed: true,
  'not-attempted': true,
  skipped: true,
});
const ACTIONS = words<PlanAction>({ start: true, 'clean-shutdown': true, 'hard-shutdown': true, skip: true });
export const MODES = words<PlanMode>({ boot: true, shutdown: true });
const POWER_STATES = words<PowerState>({ Halted: true, Running: true, Paused: true, Suspended: true });
const ON_START = words<OnStart>({ start: true, restore: true, ignore: true });
const ON_STOP = words<OnStop>({ shutdown: true, poweroff: true, migrate: true });

/** Whether the boot plan of boot `bootId` ran to its end, or was interrupted and must be resumed. */
export type BootOutcome = 'in-progress' | 'done';
export const BOOT_OUTCOMES: BootOutcome[] = words<BootOutcome>({ 'in-progress': true, done: true });

export interface BootMarker extends Partial<RecordScope> {
  /** /proc/sys/kernel/random/boot_id of the boot this marker is about. */
  bootId: string;
  /** ISO time of the last change. */
  handledAt: string;
  outcome: BootOutcome;
}

/** The scope fields every runtime record carries (absent in files of older versions). */
export const scopeFields = { stateDir: optional(str), hostUuid: optional(nullable(str)) };

export const bootMarkerCheck: Check = object({ bootId: str, handledAt: isoTime, outcome: oneOf(BOOT_OUTCOMES), ...scopeFields });

const guestRef = object({ uuid: str, name: str, ref: str });

export const snapshotCheck: Check = object({
  takenAt: isoTime,
  bootId: str,
  hostUuid: str,
  guests: arrayOf(
    object({
      uuid: str,
      name: str,
      powerState: oneOf(POWER_STATES),
      residentOn: nullable(str),
      affinity: nullable(str),
      order: num,
      memoryMax: num,
      otherConfig: recordOf(str),
      policy: object({ onStart: oneOf(ON_START), onStop: oneOf(ON_STOP), order: num, shutdownTimeout: num, maintenance: any, problems: arrayOf(any) }),
    }),
  ),
});

const maybeTime = nullable(isoTime);

export const reportCheck: Check = object({
  mode: oneOf(MODES),
  bootId: str,
  hostUuid: str,
  startedAt: isoTime,
  endedAt: isoTime,
  deadlineAt: maybeTime,
  trigger: str,
  guests: arrayOf(
    object({
      guest: guestRef,
      order: num,
      action: oneOf(ACTIONS),
      outcome: oneOf(OUTCOMES),
      reason: nullable(str),
      startedAt: maybeTime,
      phase1EndAt: maybeTime,
      phase2At: maybeTime,
      endedAt: maybeTime,
      heldMs: optional(num),
      errors: arrayOf(arrayOf(str)),
      storageWait: optional(object({ srs: arrayOf(str), startedAt: isoTime, endedAt: isoTime, plugged: bool })),
      migration: optional(object({ to: nullable(object({ uuid: str, name: str })), seconds: num, failed: nullable(str) })),
    }),
  ),
  groups: arrayOf(object({ order: num, startedAt: isoTime, endedAt: isoTime })),
  totals: recordOf(num),
  exitCode: num,
  leftRunning: arrayOf(guestRef),
  snapshotTakenAt: optional(isoTime),
});

export const progressLineCheck: Check = object({ bootId: str, uuid: str, at: isoTime, monotonicMs: optional(num), startTimeBefore: optional(nullable(isoTime)), ...scopeFields });
