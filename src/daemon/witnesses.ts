// Two independent witnesses of what the daemon did in this boot: the state directory on disk
// (survives reboots; may be read-only, full, or hold a corrupt file) and the runtime directory on
// tmpfs (emptied at every boot, so whatever it holds is about this boot). Each records the boot
// marker, the boot journal ("asked guest X to start") and the shutdown record. Reads believe either
// witness; writes go to both, and a witness that cannot be written is logged, never fatal: the
// daemon must keep starting and stopping guests with a broken disk.
// Every record names the host uuid and state directory it is about (src/state/scope.ts); a record
// about another host or state directory is ignored with a log line saying so.

import { resolve } from 'node:path';
import type { Logger } from '../log.js';
import { openStateDir, scopeMismatch, type BootOutcome, type JournalEntry, type RecordScope, type StateDir } from '../state/index.js';
import { readShutdownRecord, writeShutdownRecord, type ShutdownRecord } from './shutdown-record.js';
import { readWarningsTold, writeWarningsTold } from './warnings-told.js';

interface Witness {
  name: string;
  dir: StateDir;
}

export interface Witnesses {
  /** The state directory proper (snapshot, reports). */
  readonly state: StateDir;
  /** What this daemon's records are about; the host uuid is null until `learnHost`. */
  readonly scope: Readonly<RecordScope>;
  /** The toolstack named this host: records are written with it, and records of other hosts ignored. */
  learnHost(hostUuid: string): void;
  /** Whether either witness says the boot plan of `bootId` ran to its end, and when. */
  bootHandled(bootId: string): Promise<{ handled: boolean; at: string | null; by: string | null }>;
  /** Guests asked to start in `bootId` by any earlier daemon, as either journal remembers them, with when (earliest). */
  alreadyStarted(bootId: string): Promise<Map<string, JournalEntry>>;
  /** Record the boot plan's state in both witnesses. Never throws. */
  markBoot(bootId: string, outcome: BootOutcome): Promise<void>;
  /**
   * Journal a start request ahead of sending it, with the guest's start time as read just before
   * (undefined: unreadable); throws only when no witness could record it.
   */
  markStarted(bootId: string, uuid: string, startTimeBefore?: string | null): Promise<void>;
  /** A shutdown of `bootId` that began and did not finish (the latest, by start time), or null. */
  unfinishedShutdown(bootId: string): Promise<ShutdownRecord | null>;
  /** Record the shutdown's start or end in both witnesses. Never throws. */
  recordShutdown(record: ShutdownRecord): Promise<void>;
  /** Plan warnings logged at their own level by any daemon in `bootId` (runtime directory and this process). Never throws. */
  warningsTold(bootId: string): Promise<Set<string>>;
  /** Remember warnings just logged, for later plans and later daemons of this boot. Never throws. */
  rememberWarningsTold(bootId: string, messages: string[]): Promise<void>;
}

/**
 * `askHostUuid` is called (once) only when a record names a host and this daemon does not know its
 * own yet: it waits for the toolstack, and null means "could not tell" (the record is then trusted,
 * as before records named their host).
 */
export async function openWitnesses(stateDir: string, runtimeDir: string, log: Logger, askHostUuid: () => Promise<string | null> = async () => null): Promise<Witnesses> {
  const state = await openStateDir(stateDir, log);
  const runtime = await openStateDir(runtimeDir, log.child({ witness: 'runtime directory' }));
  const all: Witness[] = [
    { name: 'state directory', dir: state },
    { name: 'runtime directory', dir: runtime },
  ];
  const scope: RecordScope = { stateDir: resolve(stateDir), hostUuid: null };
  // Kept here too, so that a runtime directory that cannot be written still spares this daemon's repeats.
  const toldHere = new Set<string>();

  let asked: Promise<string | null> | null = null;
  /** Whether a record read from `w` is about this daemon's host and state directory; logs when not. */
  async function ours(w: Witness, what: string, record: Partial<RecordScope>): Promise<boolean> {
    if (typeof record.hostUuid === 'string' && scope.hostUuid === null) {
      asked ??= askHostUuid().catch(() => null);
      scope.hostUuid ??= await asked;
    }
    const why = scopeMismatch(record, scope);
    if (why) log.warn({ witness: w.name, dir: w.dir.paths.dir, why }, `${what} in the ${w.name} ignored: ${why}`);
    return why === null;
  }

  /** Run `write` on every witness; log each failure; resolve with how many succeeded. */
  async function toEach(what: string, write: (w: Witness) => Promise<void>): Promise<number> {
    const results = await Promise.allSettled(all.map(write));
    let ok = 0;
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') ok += 1;
      else log.error({ witness: all[i]!.name, dir: all[i]!.dir.paths.dir, err: messageOf(r.reason) }, `could not record ${what} in the ${all[i]!.name}; carrying on`);
    });
    return ok;
  }

  return {
    state,
    scope,

    learnHost(hostUuid) {
      scope.hostUuid = hostUuid;
    },

    async bootHandled(bootId) {
      for (const w of all) {
        const marker = await w.dir.readBootMarker().catch(() => null);
        if (marker && marker.bootId === bootId && marker.outcome === 'done' && (await ours(w, 'the boot marker', marker))) return { handled: true, at: marker.handledAt, by: w.name };
      }
      return { handled: false, at: null, by: null };
    },

    async alreadyStarted(bootId) {
      // Asked after the toolstack answered: cheap, and journal lines of another host can be told.
      if (scope.hostUuid === null) {
        asked ??= askHostUuid().catch(() => null);
        scope.hostUuid ??= await asked;
      }
      const journals = await Promise.all(all.map((w) => w.dir.readBootJournal(bootId, scope).catch(() => new Map<string, JournalEntry>())));
      const merged = new Map<string, JournalEntry>();
      for (const [uuid, entry] of journals.flatMap((j) => [...j])) {
        const known = merged.get(uuid);
        if (known === undefined || journalledEarlier(entry, known)) merged.set(uuid, entry);
      }
      return merged;
    },

    async markBoot(bootId, outcome) {
      await toEach(`the boot marker (${outcome})`, (w) => w.dir.writeBootMarker({ bootId, handledAt: new Date().toISOString(), outcome, ...scope }));
    },

    async markStarted(bootId, uuid, startTimeBefore) {
      const results = await Promise.allSettled(all.map((w) => w.dir.markBootStarted(bootId, uuid, { ...scope }, startTimeBefore)));
      if (results.every((r) => r.status === 'rejected')) {
        throw new Error(`no witness could journal the start: ${results.map((r) => messageOf((r as PromiseRejectedResult).reason)).join('; ')}`);
      }
    },

    async unfinishedShutdown(bootId) {
      const records = await Promise.all(
        all.map((w) => readShutdownRecord(w.dir.paths.dir, (problem) => log.error({ witness: w.name, problem }, `shutdown record in the ${w.name} is unreadable; ignoring it`))),
      );
      const ofThisBoot: ShutdownRecord[] = [];
      for (const [i, r] of records.entries()) {
        if (r !== null && r.bootId === bootId && (await ours(all[i]!, 'the shutdown record', r))) ofThisBoot.push(r);
      }
      if (ofThisBoot.length === 0) return null;
      // The latest shutdown counts; either witness having seen it finish means it finished.
      const latest = Math.max(...ofThisBoot.map((r) => Date.parse(r.startedAt)));
      const same = ofThisBoot.filter((r) => Date.parse(r.startedAt) === latest);
      return same.some((r) => r.finishedAt !== null) ? null : same[0]!;
    },

    async recordShutdown(record) {
      await toEach(record.finishedAt ? 'the end of the shutdown' : 'the start of the shutdown', (w) => writeShutdownRecord(w.dir.paths.dir, { ...record, ...scope }));
    },

    async warningsTold(bootId) {
      const earlier = await readWarningsTold(runtime.paths.dir, bootId).catch(() => []);
      // Kept here too: rememberWarningsTold rewrites the file from toldHere, which must not drop earlier daemons' words.
      for (const m of earlier) toldHere.add(m);
      return new Set(toldHere);
    },

    async rememberWarningsTold(bootId, messages) {
      for (const m of messages) toldHere.add(m);
      // Only the runtime directory: it is emptied at every boot, which is exactly the scope wanted.
      await writeWarningsTold(runtime.paths.dir, bootId, [...toldHere]).catch((err: unknown) =>
        log.debug({ err: messageOf(err) }, 'could not remember the plan warnings logged in this boot; a restarted daemon logs them again'));
    },
  };
}

/**
 * The earlier of two witnesses' lines for one start (written moments apart): on the monotonic
 * clock when both carry it, since their wall times may straddle a clock step.
 */
function journalledEarlier(a: JournalEntry, b: JournalEntry): boolean {
  if (a.monotonicMs !== undefined && b.monotonicMs !== undefined) return a.monotonicMs < b.monotonicMs;
  return Date.parse(a.at) < Date.parse(b.at);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
