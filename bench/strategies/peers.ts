// What peer systems do at host boot and shutdown (shared/ANCHORS.md §0, §A), each written as a
// small strategy over the same Toolstack as ours, so that only the strategy differs.
//
//  sequential  one guest at a time in the toolstack's listing order, as an admin's loop or
//              `xe vm-start --multiple` (xapi-autostart-vms) does; at shutdown clean with the same
//              per-guest timeout as ours, then hard.
//  xapi        `xe host-prepare-for-poweroff` (vm_evacuation.ml): clean_shutdown of every guest
//              whose allowed operations include it, all at once, 60 s for all together; then
//              cancel, and hard_shutdown of every guest still live, all at once.
//  proxmox     pve-guests startall/stopall: order levels (ascending / descending), up to
//              `parallelism` workers per level. Start: wait for the start task, then sleep `up`
//              (3 s default for VMs) in the worker; no readiness wait. Stop: per-guest timeout
//              (--timeout 180), then force stop. Proxmox asks guests without an agent by ACPI; a
//              Xen HVM guest without PV drivers has no such path, so a refused clean request goes
//              straight to the force stop (the kindest port).
//  libvirt     libvirt-guests with ON_SHUTDOWN=shutdown, other settings default: serial
//              (PARALLEL_SHUTDOWN=0), SHUTDOWN_TIMEOUT=300 per guest, never destroys; a guest
//              that refuses or does not halt in time is left running.

import pLimit from 'p-limit';
import { deadlineIn } from '../../src/core/clock.js';
import type { CleanShutdownHandle, Guest, Toolstack } from '../../src/toolstack/types.js';
import { simMs, type Strategy } from './types.js';

const XAPI_CLEAN_BUDGET_S = 60;
const PROXMOX_UP_S = 3;
const LIBVIRT_SHUTDOWN_TIMEOUT_S = 300;
/** Generous bound on one start or hard stop, real ms: a peer never hangs the benchmark. */
const OP_BOUND_MS = 600_000;

function ordinary(g: Guest): boolean {
  return !g.isTemplate && !g.isSnapshot && !g.isControlDomain;
}

async function toStart(ts: Toolstack): Promise<Guest[]> {
  return (await ts.guests()).filter((g) => ordinary(g) && g.powerState === 'Halted' && g.otherConfig['auto_poweron'] === 'true');
}

async function toStop(ts: Toolstack): Promise<Guest[]> {
  return (await ts.guests()).filter((g) => ordinary(g) && (g.powerState === 'Running' || g.powerState === 'Paused'));
}

/** Order levels, ascending. */
function levels(guests: Guest[]): Guest[][] {
  const by = new Map<number, Guest[]>();
  for (const g of guests) by.set(g.order, [...(by.get(g.order) ?? []), g]);
  return [...by.keys()].sort((a, b) => a - b).map((k) => by.get(k)!);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

/** 'done' when the request's task succeeded, 'failed' when it failed, 'timeout' after ms. */
async function awaitRequest(handle: CleanShutdownHandle, ms: number): Promise<'done' | 'failed' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), Math.max(0, ms))));
  try {
    return await Promise.race([handle.done.then(() => 'done' as const, () => 'failed' as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function startQuietly(ts: Toolstack, g: Guest, failures: string[]): Promise<void> {
  try {
    await ts.start(g, { deadline: deadlineIn(OP_BOUND_MS) });
  } catch (err) {
    failures.push(`${g.name}: ${(err as Error).message}`);
  }
}

async function hardQuietly(ts: Toolstack, g: Guest, failures: string[]): Promise<void> {
  try {
    await ts.hardShutdown(g, { deadline: deadlineIn(OP_BOUND_MS) });
  } catch (err) {
    failures.push(`${g.name}: ${(err as Error).message}`);
  }
}

/** Clean request, wait up to timeoutMs, then cancel and hard stop; a refused request goes hard at once. */
async function cleanThenHard(ts: Toolstack, g: Guest, timeoutMs: number, failures: string[]): Promise<void> {
  let handle: CleanShutdownHandle;
  try {
    handle = await ts.requestCleanShutdown(g);
  } catch {
    return hardQuietly(ts, g, failures);
  }
  if ((await awaitRequest(handle, timeoutMs)) === 'done') return;
  await handle.cancel().catch(() => undefined);
  await hardQuietly(ts, g, failures);
}

export const sequential: Strategy = async ({ ts, mode, scale, guestTimeoutS }) => {
  const failures: string[] = [];
  if (mode === 'boot') {
    for (const g of await toStart(ts)) await startQuietly(ts, g, failures);
  } else {
    for (const g of await toStop(ts)) await cleanThenHard(ts, g, simMs(guestTimeoutS, scale), failures);
  }
  return { failures: failures.length };
};

export const xapiPoweroff: Strategy = async ({ ts, mode, scale }) => {
  if (mode !== 'shutdown') throw new Error('xapi strategy: shutdown only (its boot side is the sequential one)');
  const failures: string[] = [];
  const running = await toStop(ts);
  const handles: CleanShutdownHandle[] = [];
  await Promise.all(
    running
      .filter((g) => g.cleanShutdown.able)
      .map(async (g) => {
        try {
          handles.push(await ts.requestCleanShutdown(g));
        } catch (err) {
          failures.push(`${g.name}: ${(err as Error).message}`);
        }
      }),
  );
  const settled = new Set<CleanShutdownHandle>();
  const all = Promise.all(handles.map((h) => h.done.then(() => settled.add(h), () => settled.add(h))));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([all, new Promise((r) => (timer = setTimeout(r, simMs(XAPI_CLEAN_BUDGET_S, scale))))]);
  clearTimeout(timer);
  const pending = handles.filter((h) => !settled.has(h));
  await Promise.all(pending.map((h) => h.cancel().catch(() => undefined)));
  const live = await toStop(ts);
  await Promise.all(live.map((g) => hardQuietly(ts, g, failures)));
  return { cancelled: pending.length, hardStopped: live.length, failures: failures.length };
};

export const proxmox: Strategy = async ({ ts, mode, scale, parallelism, guestTimeoutS }) => {
  const failures: string[] = [];
  if (mode === 'boot') {
    for (const level of levels(await toStart(ts))) {
      const worker = pLimit(parallelism);
      await Promise.all(
        level.map((g) =>
          worker(async () => {
            await startQuietly(ts, g, failures);
            await sleep(simMs(PROXMOX_UP_S, scale));
          }),
        ),
      );
    }
  } else {
    for (const level of levels(await toStop(ts)).reverse()) {
      const worker = pLimit(parallelism);
      await Promise.all(level.map((g) => worker(() => cleanThenHard(ts, g, simMs(guestTimeoutS, scale), failures))));
    }
  }
  return { failures: failures.length };
};

export const libvirtGuests: Strategy = async ({ ts, mode, scale }) => {
  if (mode !== 'shutdown') throw new Error('libvirt strategy: shutdown only');
  let refused = 0;
  let timedOut = 0;
  for (const g of await toStop(ts)) {
    let handle: CleanShutdownHandle;
    try {
      handle = await ts.requestCleanShutdown(g);
    } catch {
      refused += 1; // "virsh shutdown" failed: logged, and the guest is left as it is
      continue;
    }
    // "Shutdown of guest … failed to complete in time." — and on to the next one.
    if ((await awaitRequest(handle, simMs(LIBVIRT_SHUTDOWN_TIMEOUT_S, scale))) !== 'done') timedOut += 1;
  }
  return { refused, timedOut };
};
