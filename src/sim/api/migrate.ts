// VM.pool_migrate: a live migration to another host of the pool, as xapi does it — the checks of
// VM.assert_can_boot_here on the destination (enabled, memory), local disks refused, memory
// reserved on the destination while the copy runs (scheduled_to_be_resident_on), a duration that
// grows with the guest's memory, and resident_on changing only at the end. A migration that fails
// half-way leaves the guest running where it was.
//
// sim.hold_migration(vm, at) parks the VM's next migration at a known point until
// sim.release_migration(vm): 'start' (admitted, before the destination is checked: a host disabled
// meanwhile refuses it as xapi would) or 'copy' (checked, memory reserved, the copy under way). Tests
// act at that point by waiting on the timeline's "migration held" event instead of racing the copy.

import { behaviourOf } from '../behaviour.js';
import { ApiError } from '../errors.js';
import { moveDomain } from '../guest.js';
import { assertCanBootHere, vmOrThrow, withOperation } from '../lifecycle.js';
import { recordTimeline, type Sim, type TaskRuntime } from '../state.js';
import { setCancellable } from '../tasks.js';
import { NULL_REF, VOID } from '../wire/values.js';
import type { Registry } from './registry.js';
import { vmRefOf } from './sim-calls.js';

const GIB = 1024 ** 3;
/** Simulated seconds to set a migration up, plus one per GiB of guest memory copied. */
const MIGRATE_SETUP_S = 1;
const MIGRATE_S_PER_GIB = 1;

export function migrationSeconds(memoryBytes: number): number {
  return MIGRATE_SETUP_S + (memoryBytes / GIB) * MIGRATE_S_PER_GIB;
}

export type HoldPoint = 'start' | 'copy';
export const HOLD_POINTS: readonly HoldPoint[] = ['start', 'copy'];

interface Holds {
  /** VM ref → where its next migration stops. */
  armed: Map<string, HoldPoint>;
  /** VM ref → the release of a migration parked now. */
  parked: Map<string, () => void>;
}
const holdsOf = new WeakMap<Sim, Holds>();

function holds(sim: Sim): Holds {
  let h = holdsOf.get(sim);
  if (!h) holdsOf.set(sim, (h = { armed: new Map(), parked: new Map() }));
  return h;
}

/** Parks here when the test armed this point for this VM; a cancel or toolstack restart ends the wait as it ends the task. */
async function holdPoint(sim: Sim, task: TaskRuntime, vmRef: string, at: HoldPoint, dest: string): Promise<void> {
  const h = holds(sim);
  if (h.armed.get(vmRef) !== at) return;
  h.armed.delete(vmRef);
  recordTimeline(sim, vmRef, 'migration held', { task: task.ref, detail: `at ${at}, to ${hostName(sim, dest)}` });
  const signal = task.abort.signal;
  try {
    await new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason as Error);
      const onAbort = () => reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      h.parked.set(vmRef, () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  } finally {
    h.parked.delete(vmRef);
  }
}

function hostName(sim: Sim, ref: string): string {
  return String(sim.db.get('host', ref)?.name_label ?? ref);
}

export async function poolMigrate(sim: Sim, task: TaskRuntime, vmRef: string, dest: string): Promise<void> {
  await withOperation(sim, vmRef, 'pool_migrate', task, async () => {
    const from = String(vmOrThrow(sim, vmRef).resident_on);
    const b = behaviourOf(sim, vmRef);
    setCancellable(sim, task, true);
    await holdPoint(sim, task, vmRef, 'start', dest);
    setCancellable(sim, task, false);
    const vm = vmOrThrow(sim, vmRef);
    assertCanBootHere(sim, vmRef, dest);
    sim.db.update('VM', vmRef, { scheduled_to_be_resident_on: dest });
    recordTimeline(sim, vmRef, 'migrating', { task: task.ref, detail: `to ${hostName(sim, dest)}` });
    const total = migrationSeconds(Number(vm.memory_dynamic_max ?? vm.memory_static_max ?? 0));
    setCancellable(sim, task, true);
    try {
      await holdPoint(sim, task, vmRef, 'copy', dest);
      if (b.migrate_error) {
        await sim.clock.sleep(total / 2, task.abort.signal);
        throw new ApiError(b.migrate_error, [vmRef]);
      }
      await sim.clock.sleep(total, task.abort.signal);
    } catch (err) {
      if (sim.db.get('VM', vmRef)) sim.db.update('VM', vmRef, { scheduled_to_be_resident_on: NULL_REF });
      throw err;
    }
    setCancellable(sim, task, false);
    moveDomain(sim, vmRef, from, dest);
    recordTimeline(sim, vmRef, 'migrated', { task: task.ref, detail: `to ${hostName(sim, dest)}` });
  });
}

export function addMigration(reg: Registry): void {
  reg.add({
    name: 'VM.pool_migrate',
    params: [
      { name: 'vm', type: 'ref' },
      { name: 'host', type: 'ref' },
      { name: 'options', type: 'string_map' },
    ],
    session: true,
    async: true,
    run: (ctx, [vm, host]) =>
      ctx.inTask(async (task) => {
        ctx.log.task = task.ref;
        if (!ctx.sim.db.get('host', host as string)) throw new ApiError('HANDLE_INVALID', ['host', host as string]);
        await poolMigrate(ctx.sim, task, vm as string, host as string);
        return VOID;
      }),
  });
  reg.add({
    name: 'sim.hold_migration',
    params: [
      { name: 'vm', type: 'string' },
      { name: 'at', type: 'string', default: 'copy' },
    ],
    session: false,
    run: (ctx, [vm, at]) => {
      if (!HOLD_POINTS.includes(at as HoldPoint)) throw new ApiError('INVALID_VALUE', ['at', String(at), `allowed: ${HOLD_POINTS.join(', ')}`]);
      holds(ctx.sim).armed.set(vmRefOf(ctx.sim, vm as string), at as HoldPoint);
      return VOID;
    },
  });
  reg.add({
    name: 'sim.release_migration',
    params: [{ name: 'vm', type: 'string' }],
    session: false,
    run: (ctx, [vm]) => {
      const ref = vmRefOf(ctx.sim, vm as string);
      const release = holds(ctx.sim).parked.get(ref);
      if (!release) throw new ApiError('INVALID_VALUE', ['vm', String(vm), 'no migration of this VM is held now (wait for its "migration held" timeline event)']);
      release();
      return VOID;
    },
  });
}

