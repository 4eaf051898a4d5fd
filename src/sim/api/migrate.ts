// VM.pool_migrate: a live migration to another host of the pool, as xapi does it — the checks of
// VM.assert_can_boot_here on the destination (enabled, memory), local disks refused, memory
// reserved on the destination while the copy runs (scheduled_to_be_resident_on), a duration that
// grows with the guest's memory, and resident_on changing only at the end. A migration that fails
// half-way leaves the guest running where it was.

import { behaviourOf } from '../behaviour.js';
import { ApiError } from '../errors.js';
import { moveDomain } from '../guest.js';
import { assertCanBootHere, vmOrThrow, withOperation } from '../lifecycle.js';
import { recordTimeline, type Sim, type TaskRuntime } from '../state.js';
import { setCancellable } from '../tasks.js';
import { NULL_REF, VOID } from '../wire/values.js';
import type { Registry } from './registry.js';

const GIB = 1024 ** 3;
/** Simulated seconds to set a migration up, plus one per GiB of guest memory copied. */
const MIGRATE_SETUP_S = 1;
const MIGRATE_S_PER_GIB = 1;

export function migrationSeconds(memoryBytes: number): number {
  return MIGRATE_SETUP_S + (memoryBytes / GIB) * MIGRATE_S_PER_GIB;
}

export async function poolMigrate(sim: Sim, task: TaskRuntime, vmRef: string, dest: string): Promise<void> {
  await withOperation(sim, vmRef, 'pool_migrate', task, async () => {
    const vm = vmOrThrow(sim, vmRef);
    const from = String(vm.resident_on);
    const b = behaviourOf(sim, vmRef);
    assertCanBootHere(sim, vmRef, dest);
    sim.db.update('VM', vmRef, { scheduled_to_be_resident_on: dest });
    recordTimeline(sim, vmRef, 'migrating', { task: task.ref, detail: `to ${String(sim.db.get('host', dest)?.name_label)}` });
    const total = migrationSeconds(Number(vm.memory_dynamic_max ?? vm.memory_static_max ?? 0));
    setCancellable(sim, task, true);
    try {
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
    recordTimeline(sim, vmRef, 'migrated', { task: task.ref, detail: `to ${String(sim.db.get('host', dest)?.name_label)}` });
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
}
