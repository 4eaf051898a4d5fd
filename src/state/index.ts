// The state directory (default /var/lib/xen-guests): the boot marker, the boot-progress journal, the
// last shutdown snapshot and the last boot and shutdown reports. Whole files are replaced atomically;
// a file that does not read back as what we wrote is logged, moved aside and treated as absent, so a
// bad file costs one run its memory and never puts the daemon into a crash loop.

import { constants } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { monotonicNow } from '../core/clock.js';
import type { PlanMode, RunReport, ShutdownSnapshot } from '../core/types.js';
import type { Logger } from '../log.js';
import { ensureDir, probeWritable, readTextOrNull, StateDirError, syncDir, wrapError, writeFileAtomic } from './atomic.js';
import { bootMarkerCheck, MODES, progressLineCheck, reportCheck, snapshotCheck, type BootMarker } from './schemas.js';
import type { Check } from './validate.js';

export { readBootId, bootIdPath, BOOT_ID_FILE } from './boot-id.js';
export { StateDirError, writeFileAtomic } from './atomic.js';
export type { BootMarker, BootOutcome } from './schemas.js';
export { scopeMismatch, type RecordScope } from './scope.js';
import { scopeMismatch, type RecordScope } from './scope.js';

/** When a guest was first journalled in a boot: wall time for people, and the boot's monotonic clock. */
export interface JournalEntry {
  /** ISO wall time of the line. */
  at: string;
  /**
   * CLOCK_MONOTONIC ms when the line was written (src/core/clock.ts): meaningful in the line's boot
   * only, which every line names. Absent in lines of older versions.
   */
  monotonicMs?: number;
  /**
   * The guest's VM_metrics.start_time (ISO; null: it never ran) as read just before the start was
   * sent: a start since the line shows as a different value, whatever the clocks did. Absent when
   * it could not be read, and in lines of older versions.
   */
  startTimeBefore?: string | null;
}

export interface StatePaths {
  dir: string;
  bootMarker: string;
  bootProgress: string;
  snapshot: string;
  report(mode: PlanMode): string;
}

export interface StateDir {
  readonly paths: StatePaths;
  /** Set when the directory could not be created or written at open: the reason, with the errno. */
  readonly problem: StateDirError | null;
  readBootMarker(): Promise<BootMarker | null>;
  /** Writing a marker for a boot other than the previous marker's discards the old boot's journal. */
  writeBootMarker(marker: BootMarker): Promise<void>;
  /**
   * Journal, written ahead of each start request: "guest `uuid` was asked to start in boot `bootId`".
   * Durable (fsync) before it resolves, so a daemon killed after asking cannot ask twice.
   */
  markBootStarted(bootId: string, uuid: string, scope?: RecordScope, startTimeBefore?: string | null): Promise<void>;
  /**
   * Guests asked to start in `bootId` (default: the boot of the current marker). With `scope`, lines
   * written for another host or state directory are left out (and logged).
   */
  readBootProgress(bootId?: string, scope?: RecordScope): Promise<Set<string>>;
  /** As readBootProgress, with when each guest was first journalled. */
  readBootJournal(bootId?: string, scope?: RecordScope): Promise<Map<string, JournalEntry>>;
  readSnapshot(): Promise<ShutdownSnapshot | null>;
  writeSnapshot(snapshot: ShutdownSnapshot): Promise<void>;
  readReport(mode: PlanMode): Promise<RunReport | null>;
  writeReport(report: RunReport): Promise<void>;
}

export function statePaths(dir: string): StatePaths {
  return {
    dir,
    bootMarker: join(dir, 'boot-marker.json'),
    bootProgress: join(dir, 'boot-progress.jsonl'),
    snapshot: join(dir, 'shutdown-snapshot.json'),
    report: (mode) => join(dir, `report-${mode}.json`),
  };
}

/**
 * Opens (creating it 0750 when missing) the state directory. Never throws for I/O: a directory that
 * cannot be created or written is logged as an error and reported in `problem`; each later write
 * then fails with a StateDirError naming the file and the errno, and reads find nothing.
 */
export async function openStateDir(dir: string, log: Logger): Promise<StateDir> {
  const paths = statePaths(dir);
  let problem: StateDirError | null = null;
  try {
    await ensureDir(dir);
    await probeWritable(dir);
  } catch (err) {
    problem = err instanceof StateDirError ? err : wrapError('open', dir, err);
    log.error({ dir, errno: problem.errno }, `${problem.message}; boot marker, snapshot and reports cannot be kept`);
  }

  async function readChecked<T>(path: string, check: Check, fallback: string): Promise<T | null> {
    const text = await readTextOrNull(path).catch((err: unknown) => {
      // Unreadable is not corrupt: leave the file where it is for the admin, and carry on without it.
      log.error({ file: path }, `${(err as Error).message}; ${fallback}`);
      return null;
    });
    if (text === null) return null;
    let value: unknown;
    let wrong: string | null;
    try {
      value = JSON.parse(text);
      wrong = check(value, '');
    } catch (err) {
      wrong = `not valid JSON (${(err as Error).message})`;
    }
    if (wrong === null) return value as T;
    await quarantine(path, wrong, fallback);
    return null;
  }

  async function quarantine(path: string, wrong: string, fallback: string): Promise<void> {
    const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      await rename(path, aside);
      log.error({ file: path, problem: wrong, movedTo: aside }, `state file ${path} is corrupt (${wrong}); moved aside to ${aside}; ${fallback}`);
    } catch (err) {
      log.error({ file: path, problem: wrong }, `state file ${path} is corrupt (${wrong}) and could not be moved aside (${(err as Error).message}); ${fallback}`);
    }
  }

  type ProgressLine = { bootId: string; uuid: string } & JournalEntry & Partial<RecordScope>;
  async function readProgressLines(): Promise<ProgressLine[]> {
    const text = await readTextOrNull(paths.bootProgress).catch((err: unknown) => {
      log.error({ file: paths.bootProgress }, `${(err as Error).message}; assuming no guest was asked to start yet`);
      return null;
    });
    if (text === null) return [];
    const lines = text.split('\n');
    const complete = text.endsWith('\n') ? lines.slice(0, -1) : lines;
    const entries: ProgressLine[] = [];
    complete.forEach((line, i) => {
      const last = i === complete.length - 1 && !text.endsWith('\n');
      let value: unknown;
      let wrong: string | null;
      try {
        value = JSON.parse(line);
        wrong = progressLineCheck(value, '');
      } catch (err) {
        wrong = `not valid JSON (${(err as Error).message})`;
      }
      if (wrong === null) {
        entries.push(value as ProgressLine);
      } else if (last) {
        // A write cut short by a kill: that start request was never made durable, so never made.
        log.warn({ file: paths.bootProgress, line: i + 1 }, `boot-progress journal ends in a torn line (${wrong}); ignoring it`);
      } else {
        log.error({ file: paths.bootProgress, line: i + 1 }, `boot-progress journal line ${i + 1} is corrupt (${wrong}); ignoring it`);
      }
    });
    return entries;
  }

  async function readBootJournal(bootId?: string, scope?: RecordScope): Promise<Map<string, JournalEntry>> {
    const wanted = bootId ?? (await previousMarkerBootId());
    const journal = new Map<string, JournalEntry>();
    if (wanted === null) return journal;
    for (const e of await readProgressLines()) {
      if (e.bootId !== wanted) continue;
      const why = scope ? scopeMismatch(e, scope) : null;
      if (why) log.warn({ file: paths.bootProgress, guest: e.uuid, why }, `boot journal line for guest ${e.uuid} ignored: ${why}`);
      else if (!journal.has(e.uuid)) journal.set(e.uuid, journalEntryOf(e));
    }
    return journal;
  }

  async function previousMarkerBootId(): Promise<string | null> {
    const text = await readTextOrNull(paths.bootMarker).catch(() => null);
    if (text === null) return null;
    try {
      const value = JSON.parse(text) as unknown;
      return bootMarkerCheck(value, '') === null ? (value as BootMarker).bootId : null;
    } catch {
      return null;
    }
  }

  return {
    paths,
    problem,

    readBootMarker: () => readChecked<BootMarker>(paths.bootMarker, bootMarkerCheck, 'treating this boot as not handled yet'),

    async writeBootMarker(marker) {
      const wrong = bootMarkerCheck(marker, '');
      if (wrong) throw new Error(`refusing to write a bad boot marker to ${paths.bootMarker}: ${wrong}`);
      const previous = await previousMarkerBootId();
      // No readable marker (first run, or a corrupt one moved aside) says nothing about the journal:
      // its lines name their boot, so keep them; a daemon resuming this boot needs them.
      if (previous !== null && previous !== marker.bootId) {
        await rm(paths.bootProgress, { force: true }).catch((err: unknown) => {
          throw wrapError('remove the old boot journal', paths.bootProgress, err);
        });
      }
      await writeFileAtomic(paths.bootMarker, JSON.stringify(marker, null, 2) + '\n');
    },

    async markBootStarted(bootId, uuid, scope, startTimeBefore) {
      // The monotonic instant and the start time before too: the decision that reads this line back must survive a clock step.
      const before = startTimeBefore === undefined ? {} : { startTimeBefore };
      const line = JSON.stringify({ bootId, uuid, at: new Date().toISOString(), monotonicMs: monotonicNow(), ...before, ...scope }) + '\n';
      try {
        // One write(2) with O_APPEND per line: concurrent appends never interleave within a line.
        const handle = await open(paths.bootProgress, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o640);
        let created: boolean;
        try {
          // The first line also creates the file: its directory entry must be durable too.
          created = (await handle.stat()).size === 0;
          await handle.write(line);
          await handle.sync();
        } finally {
          await handle.close();
        }
        if (created) await syncDir(dir);
      } catch (err) {
        throw wrapError('append to', paths.bootProgress, err);
      }
    },

    readBootJournal,

    async readBootProgress(bootId, scope) {
      return new Set((await readBootJournal(bootId, scope)).keys());
    },

    readSnapshot: () => readChecked<ShutdownSnapshot>(paths.snapshot, snapshotCheck, 'the restore policy and reports go without the last shutdown snapshot'),

    async writeSnapshot(snapshot) {
      await writeFileAtomic(paths.snapshot, JSON.stringify(snapshot, null, 2) + '\n');
    },

    async readReport(mode) {
      if (!MODES.includes(mode)) throw new Error(`report mode "${String(mode)}" is not one of ${MODES.join(', ')}`);
      const report = await readChecked<RunReport>(paths.report(mode), reportCheck, `no last ${mode} report is shown`);
      if (report && report.mode !== mode) {
        await quarantine(paths.report(mode), `mode is "${report.mode}", expected "${mode}"`, `no last ${mode} report is shown`);
        return null;
      }
      return report;
    },

    async writeReport(report) {
      if (!MODES.includes(report.mode)) throw new Error(`report mode "${String(report.mode)}" is not one of ${MODES.join(', ')}`);
      await writeFileAtomic(paths.report(report.mode), JSON.stringify(report, null, 2) + '\n');
    },
  };
}

/** The journal's own fields of a line, without its boot and scope. */
function journalEntryOf(line: JournalEntry): JournalEntry {
  const entry: JournalEntry = { at: line.at };
  if (line.monotonicMs !== undefined) entry.monotonicMs = line.monotonicMs;
  if (line.startTimeBefore !== undefined) entry.startTimeBefore = line.startTimeBefore;
  return entry;
}
