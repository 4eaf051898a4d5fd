// Storage that comes up late: before a guest's start, every SR its disks live on must be plugged on
// this host. An SR that is not (an NFS or iSCSI target that did not answer at host boot, or one a
// storage guest of an earlier order group exports) is plugged by the engine with backoff, bounded by
// the guest's ready timeout. Which SRs those are is read once per group, before it launches, in one
// bulk read (a constant number of calls, however many guests). The wait happens outside the group's
// start slots, so guests whose storage is there start meanwhile. Guests waiting for the same SR
// share one plug at a time.

import type { GuestRef, GuestReport, PlanEntry, StorageWait } from '../core/types.js';
import type { GuestStorage, Toolstack } from '../toolstack/types.js';
import { isTransient } from '../core/meanings.js';
import { retry } from '../retry.js';
import type { ResolvedHooks } from './hooks.js';
import { errorTuple } from './report.js';
import { bounded, formatSeconds, iso } from './time.js';
import { bootDeadline } from './budget.js';

/** PBD.plug backoff: an NFS server or iSCSI target takes seconds to minutes to come back. */
const PLUG_FIRST_MS = 1_000;
const PLUG_MAX_MS = 15_000;

/** One per run: the SRs known plugged, and the plug in flight per SR (shared by its guests). */
export interface StorageGate {
  plug(sr: GuestStorage, deadline: number): Promise<void>;
}

export function createStorageGate(toolstack: Toolstack, now: () => number): StorageGate {
  const plugged = new Set<string>();
  const inFlight = new Map<string, Promise<void>>();
  return {
    async plug(sr, deadline) {
      if (plugged.has(sr.uuid)) return;
      let p = inFlight.get(sr.uuid);
      if (!p) {
        p = bounded(toolstack.plugStorage(sr.uuid), deadline, `plugging SR '${sr.name}'`, now).finally(() => inFlight.delete(sr.uuid));
        inFlight.set(sr.uuid, p);
      }
      await p;
      plugged.add(sr.uuid);
    },
  };
}

export interface StorageWaitContext {
  toolstack: Toolstack;
  hooks: ResolvedHooks;
  gate: StorageGate;
  signal?: AbortSignal;
  /** Tells the run a guest waits for these SRs (names), for STATUS= and the live line. */
  waiting: (guest: GuestRef, srs: string[]) => void;
}

export type StorageVerdict = { ok: true } | { ok: false; outcome: 'start-failed' | 'not-attempted'; reason: string };

/** A group's storage, read before it launches: guest uuid → the SRs its disks are on. */
export type GroupStorage = ReadonlyMap<string, readonly GuestStorage[]>;

/**
 * Which SRs the group's guests' disks are on, in one read for the whole group (never one per
 * guest: a thousand guests would be hundreds of requests at once, each on its own connection, and
 * the group's first start would queue behind them). Per group, not once per run: an SR that a
 * storage guest of an earlier group serves may have been plugged since.
 *
 * A failed read is logged once and the group starts as if its guests had no storage to wait for:
 * reading guest by guest instead would put more load on the xapi that just failed the bulk read,
 * and a start whose SR is missing is not lost — xapi refuses it naming the SR (VM_REQUIRES_SR),
 * which the start retries and then reports.
 */
export async function readGroupStorage(entries: readonly PlanEntry[], group: string, toolstack: Toolstack, hooks: ResolvedHooks): Promise<GroupStorage> {
  if (entries.length === 0) return new Map();
  const { log, now } = hooks;
  // The shortest ready timeout of the group: past it, its first guest would be out of time anyway.
  const deadline = bootDeadline(now(), Math.min(...entries.map((e) => e.timeout)));
  try {
    return await bounded(toolstack.storageOf(entries.map((e) => e.guest)), deadline, `reading which SRs the disks of ${group} are on`, now);
  } catch (err) {
    log.warn({ guests: entries.length, err: errorTuple(err) }, `${group}: could not read which SRs its guests' disks are on (${errorTuple(err)[0]}); starting them anyway`);
    return new Map();
  }
}

/**
 * Resolves ok when every SR of the guest is plugged here (or it has none, or the group's read
 * failed: the start itself then says what is wrong), else why the guest cannot start.
 */
export async function awaitStorage(report: GuestReport, storage: readonly GuestStorage[], deadline: number, timeoutS: number, ctx: StorageWaitContext): Promise<StorageVerdict> {
  const { log, now } = ctx.hooks;
  const ref = report.guest;
  const missing = storage.filter((s) => !s.plugged);
  if (missing.length === 0) return { ok: true };

  const names = missing.map((s) => `'${s.name}'`).join(', ');
  const wait: StorageWait = { srs: missing.map((s) => s.name), startedAt: iso(now()), endedAt: iso(now()), plugged: false };
  report.storageWait = wait;
  // The guest's part begins with this wait: its ready timeout counts from here.
  report.startedAt = wait.startedAt;
  ctx.waiting(ref, wait.srs);
  log.warn({ guest: ref.uuid, guestName: ref.name, srs: wait.srs }, `${ref.name}: SR ${names} not plugged on this host; plugging it (PBD.plug) with backoff, up to ${timeoutS} s before the start`);
  const t0 = now();
  const results = await Promise.allSettled(missing.map((sr) => plugWithBackoff(sr, deadline, ref, ctx)));
  wait.endedAt = iso(now());
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ sr: missing[i]!, err: r.reason as unknown }] : []));
  for (const f of failed) report.errors.push(errorTuple(f.err));
  if (failed.length === 0) {
    wait.plugged = true;
    log.info({ guest: ref.uuid, guestName: ref.name, srs: wait.srs, waitedS: (now() - t0) / 1000 }, `${ref.name}: SR ${names} plugged after ${formatSeconds(now() - t0)} s; starting it`);
    return { ok: true };
  }
  const which = failed.map((f) => `'${f.sr.name}'`).join(', ');
  const last = errorTuple(failed[0]!.err)[0];
  if (ctx.signal?.aborted) return { ok: false, outcome: 'not-attempted', reason: `boot plan aborted while waiting for SR ${which}` };
  return { ok: false, outcome: 'start-failed', reason: `SR ${which} not plugged on this host within ${timeoutS} s (last: ${last}): not started` };
}

async function plugWithBackoff(sr: GuestStorage, deadline: number, ref: GuestRef, ctx: StorageWaitContext): Promise<void> {
  const { log, now } = ctx.hooks;
  await retry(() => ctx.gate.plug(sr, deadline), {
    initialMs: PLUG_FIRST_MS,
    maxMs: PLUG_MAX_MS,
    deadline,
    now,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    retryable: (err) => isTransient(err),
    onRetry: (err, attempt, delayMs) =>
      log.debug({ guest: ref.uuid, guestName: ref.name, sr: sr.name, err: errorTuple(err), attempt }, `${ref.name}: SR '${sr.name}' not pluggable yet (${errorTuple(err)[0]}); again in ${formatSeconds(delayMs)} s`),
  });
}
