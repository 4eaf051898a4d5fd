// host.get_vms_which_prevent_evacuation and host.evacuate for a pool of several hosts, following
// xapi's evacuation plan (xapi_host.ml compute_evacuation_plan_no_wlb and evacuate):
//
//  - the targets are the other *enabled* hosts; with none, every guest resident here is refused
//    NO_HOSTS_AVAILABLE [vm] (recorded on a one-host pool: 09_pool_ops);
//  - with HA on, a guest HA does not protect (ha_restart_priority other than "restart") is refused
//    HOST_EVACUATE_VM_NOT_HA_PROTECTED [vm];
//  - a guest some target could not run whatever its memory (disks on this host's local SR, an SR
//    not plugged there, too few pCPUs) is refused with that check's own error; a guest whose
//    VM.pool_migrate would be refused now (blocked, another operation in flight, not running) with
//    that operation error;
//  - the rest are bin-packed by memory alone onto the targets, biggest guest first onto the host
//    with the most memory left; a guest that fits nowhere is refused HOST_NOT_ENOUGH_FREE_MEMORY [vm].
//
// evacuate fails with the first refusal before it moves anything; otherwise it live-migrates every
// guest (VM.pool_migrate, each in its own task, `evacuate_batch_size` at a time, default 10) to its
// planned host. A migration that fails (its destination disabled meanwhile: HOST_DISABLED) stops
// further launches; the ones under way end, and evacuate fails with that error. A guest found halted
// meanwhile is not an error (xapi ignores VM_BAD_POWER_STATE). At the end, guests still resident here
// make it fail INTERNAL_ERROR. It does not disable the host (recorded: 09).

import { ApiError } from '../errors.js';
import { hostFreeMemory } from '../guest.js';
import { assertCanBootHere } from '../lifecycle.js';
import { checkOperation } from '../operations.js';
import type { Sim } from '../state.js';
import { runInTask } from '../tasks.js';
import { NULL_REF, VOID, type RpcStruct } from '../wire/values.js';
import { poolMigrate } from './migrate.js';
import { recordOrThrow } from './objects.js';
import type { Registry } from './registry.js';

/** xapi's Xapi_globs.evacuation_batch_size when the caller passes 0. */
const DEFAULT_BATCH = 10;

type Placement = { to: string } | { refused: string[] };

function residentGuests(sim: Sim, hostRef: string): string[] {
  const out: string[] = [];
  for (const [ref, row] of sim.db.table('VM')) {
    const vm = row.record;
    if (vm.resident_on === hostRef && vm.is_control_domain !== true && (vm.power_state === 'Running' || vm.power_state === 'Paused')) out.push(ref);
  }
  return out;
}

function refusal(err: unknown): string[] {
  return err instanceof ApiError ? err.description : ['INTERNAL_ERROR', String(err)];
}

function haProtected(sim: Sim, vmRef: string): boolean {
  return sim.db.get('VM', vmRef)?.ha_restart_priority === 'restart';
}

function poolHaEnabled(sim: Sim): boolean {
  return [...sim.db.table('pool').values()].some((row) => row.record.ha_enabled === true);
}

function memoryNeeded(sim: Sim, vmRef: string): number {
  const vm = sim.db.get('VM', vmRef)!;
  return Number(vm.memory_dynamic_min) + Number(vm.memory_overhead);
}

/** Where each guest resident on `hostRef` would go, or why it cannot. */
export function evacuationPlan(sim: Sim, hostRef: string): Map<string, Placement> {
  const plan = new Map<string, Placement>();
  const guests = residentGuests(sim, hostRef);
  const targets = [...sim.db.table('host')].filter(([ref, row]) => ref !== hostRef && row.record.enabled === true).map(([ref]) => ref);
  if (targets.length === 0) {
    for (const vm of guests) plan.set(vm, { refused: ['NO_HOSTS_AVAILABLE', vm] });
    return plan;
  }
  const ha = poolHaEnabled(sim);
  for (const vm of guests) {
    if (ha && !haProtected(sim, vm)) {
      plan.set(vm, { refused: ['HOST_EVACUATE_VM_NOT_HA_PROTECTED', vm] });
      continue;
    }
    try {
      for (const host of targets) assertCanBootHere(sim, vm, host, { memory: false });
    } catch (err) {
      plan.set(vm, { refused: refusal(err) });
    }
  }
  for (const vm of guests) {
    const opError = checkOperation(sim, vm, 'pool_migrate');
    if (opError) plan.set(vm, { refused: opError.description });
  }
  const left = new Map(targets.map((h) => [h, hostFreeMemory(sim, h)]));
  const movable = guests.filter((vm) => !plan.has(vm)).sort((a, b) => memoryNeeded(sim, b) - memoryNeeded(sim, a));
  for (const vm of movable) {
    const need = memoryNeeded(sim, vm);
    const [best] = [...left].filter(([, free]) => free >= need).sort((a, b) => b[1] - a[1]);
    if (!best) {
      plan.set(vm, { refused: ['HOST_NOT_ENOUGH_FREE_MEMORY', vm] });
      continue;
    }
    left.set(best[0], best[1] - need);
    plan.set(vm, { to: best[0] });
  }
  return plan;
}

async function evacuate(sim: Sim, hostRef: string, batchSize: number): Promise<void> {
  const plan = evacuationPlan(sim, hostRef);
  for (const p of plan.values()) if ('refused' in p) throw new ApiError(p.refused[0]!, p.refused.slice(1));
  const queue = [...plan].map(([vm, p]) => [vm, (p as { to: string }).to] as const);
  let failure: ApiError | null = null;
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next && !failure; next = queue.shift()) {
      const [vm, to] = next;
      try {
        await runInTask(sim, 'Async.VM.pool_migrate', true, async (task) => (await poolMigrate(sim, task, vm, to), VOID));
      } catch (err) {
        const e = err instanceof ApiError ? err : new ApiError('INTERNAL_ERROR', [String(err)]);
        if (e.code !== 'VM_BAD_POWER_STATE') failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(batchSize, queue.length) }, worker));
  if (failure) throw failure;
  const still = residentGuests(sim, hostRef).length;
  if (still > 0) throw new ApiError('INTERNAL_ERROR', [`evacuate: ${still} VMs are still resident on ${hostRef}`]);
}

export function addEvacuation(reg: Registry): void {
  reg.add({
    name: 'host.get_vms_which_prevent_evacuation',
    params: [{ name: 'self', type: 'ref' }],
    session: true,
    async: true,
    run: (ctx, [ref]) => {
      recordOrThrow(ctx.sim, 'host', ref as string);
      const out: RpcStruct = {};
      for (const [vm, p] of evacuationPlan(ctx.sim, ref as string)) if ('refused' in p) out[vm] = p.refused;
      return out;
    },
  });
  reg.add({
    name: 'host.evacuate',
    params: [
      { name: 'host', type: 'ref' },
      { name: 'network', type: 'ref', default: NULL_REF },
      { name: 'evacuate_batch_size', type: 'int', default: 0 },
    ],
    session: true,
    async: true,
    run: (ctx, [ref, , batch]) =>
      ctx.inTask(async () => {
        recordOrThrow(ctx.sim, 'host', ref as string);
        const size = Number(batch);
        await evacuate(ctx.sim, ref as string, size > 0 ? size : DEFAULT_BATCH);
        return VOID;
      }),
  });
}
