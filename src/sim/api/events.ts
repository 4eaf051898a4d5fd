// event.from (the current API) and event.register/next (deprecated), from the database's per-row
// generations: one coalesced event per changed object, `del` without a snapshot, tokens
// `%020d,%020d`, an empty batch when the timeout passes.

import { ApiError } from '../errors.js';
import type { Row, Tombstone } from '../model/db.js';
import type { SessionInfo, Sim } from '../state.js';
import { I4, VOID, type RpcStruct } from '../wire/values.js';
import type { CallContext, Registry } from './registry.js';

/** xapi batches for about 50 ms before answering so that bursts coalesce. */
/**
 * xapi batches event.from answers for ~50 ms of real time. Kept real by default (what clients meet,
 * and what call counts per guest are measured against); `xapi.event_batch_scaled` scales it like
 * the guests' durations, so that time-scaled makespans are not dominated by it.
 */
const BATCH_MS = 50;

export function formatToken(generation: number): string {
  return `${String(generation).padStart(20, '0')},${'0'.padStart(20, '0')}`;
}

function parseToken(token: string): number {
  if (token === '') return 0;
  const m = /^(-?\d+),(-?\d+)$/.exec(token);
  if (!m) throw new ApiError('EVENT_FROM_TOKEN_PARSE_FAILURE', [token]);
  return Number(m[1]);
}

function matcher(classes: string[]): (cls: string, ref: string) => boolean {
  const all = classes.includes('*');
  const names = new Set<string>();
  const objects = new Set<string>();
  for (const c of classes) {
    const slash = c.indexOf('/');
    if (slash < 0) names.add(c.toLowerCase());
    else objects.add(`${c.slice(0, slash).toLowerCase()}/${c.slice(slash + 1)}`);
  }
  return (cls, ref) => all || names.has(cls) || objects.has(`${cls}/${ref}`);
}

/** Every class xapi counts in valid_ref_counts, in its order (recorded: shared/xapi-traces 07). */
const XAPI_CLASSES = (
  'vdi_nbd_server_info user tunnel task subject sr_stat session secret role probe_result pool_update pool_patch pool network_sriov ' +
  'network message host_patch host_metrics host_crashdump host_cpu host event data_source crashdump console blob auth vusb vtpm ' +
  'vm_metrics vm_guest_metrics vm_group vm_appliance vmss vmpp vm vlan vif_metrics vif vgpu_type vgpu vdi vbd_metrics vbd usb_group ' +
  'sr sm sdn_controller repository rate_limit pvs_site pvs_server pvs_proxy pvs_cache_storage pusb pif_metrics pif pgpu pci pbd ' +
  'observer lvhd host_driver gpu_group feature driver_variant diagnostics dr_task cluster_host cluster certificate caller bond'
).split(' ');

function validRefCounts(sim: Sim): RpcStruct {
  const counts: Record<string, number> = { ...sim.db.counts(), session: sim.sessions.size };
  const out: RpcStruct = {};
  // Classes the simulator does not keep have no objects.
  for (const cls of XAPI_CLASSES) out[cls] = new I4(counts[cls] ?? 0);
  return out;
}

function eventsOf(since: number, rows: Row[], deleted: Tombstone[], timestamp: string, withUuid: boolean): RpcStruct[] {
  const events: RpcStruct[] = [];
  for (const row of rows) {
    const e: RpcStruct = { id: String(row.modified), timestamp, class: row.cls, operation: row.created > since ? 'add' : 'mod', ref: row.ref, snapshot: row.record };
    if (withUuid) e.obj_uuid = String(row.record.uuid ?? '');
    events.push(e);
  }
  for (const t of deleted) {
    const e: RpcStruct = { id: String(t.deleted), timestamp, class: t.cls, operation: 'del', ref: t.ref };
    if (withUuid) e.obj_uuid = '';
    events.push(e);
  }
  return events;
}

/** Resolves when something changed after `since`, the timeout passes, or the session ends. */
function waitForChange(sim: Sim, session: SessionInfo, since: number, accept: (cls: string, ref: string) => boolean, timeoutMs: number): Promise<'changed' | 'timeout' | 'session' | 'lost'> {
  return new Promise((resolve) => {
    const pending = (): boolean => {
      const { rows, deleted } = sim.db.changesSince(since, accept);
      return rows.length > 0 || deleted.length > 0;
    };
    if (pending()) return resolve('changed');
    let batching = false;
    const finish = (why: 'changed' | 'timeout' | 'session' | 'lost'): void => {
      unsubscribe();
      sim.bus.off('session-ended', onSessionEnd);
      sim.bus.off('events-lost', onLost);
      clearTimeout(timer);
      resolve(why);
    };
    const unsubscribe = sim.db.onChange(() => {
      if (batching || !pending()) return;
      batching = true;
      setTimeout(() => finish('changed'), sim.host.eventBatchScaled ? BATCH_MS * Math.min(1, sim.clock.timeScale) : BATCH_MS);
    });
    const onSessionEnd = (ref: string): void => {
      if (ref === session.ref) finish('session');
    };
    const onLost = (): void => finish('lost');
    sim.bus.on('session-ended', onSessionEnd);
    sim.bus.on('events-lost', onLost);
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
  });
}

async function eventFrom(ctx: CallContext, classes: string[], token: string, timeout: number): Promise<RpcStruct> {
  const { sim } = ctx;
  const since = parseToken(token);
  if (token !== '' && since < sim.faults.eventsLostAt) throw new ApiError('EVENTS_LOST', []);
  const accept = matcher(classes);
  const why = await waitForChange(sim, ctx.session!, since, accept, Math.max(0, timeout) * 1000);
  if (why === 'session' || !sim.sessions.has(ctx.session!.ref)) throw new ApiError('SESSION_INVALID', [ctx.session!.ref]);
  if (why === 'lost') throw new ApiError('EVENTS_LOST', []);
  const generation = sim.db.generation;
  const { rows, deleted } = sim.db.changesSince(since, accept);
  return { events: eventsOf(since, rows, deleted, '0.0', false), valid_ref_counts: validRefCounts(sim), token: formatToken(generation) };
}

async function eventNext(ctx: CallContext): Promise<RpcStruct[]> {
  const { sim } = ctx;
  const session = ctx.session!;
  const reg = session.registered;
  if (!reg) throw new ApiError('SESSION_NOT_REGISTERED', [session.uuid]);
  for (;;) {
    if (reg.lost) {
      reg.lost = false;
      throw new ApiError('EVENTS_LOST', []);
    }
    const accept = matcher(reg.classes);
    const why = await waitForChange(sim, session, reg.since, accept, 30_000);
    if (why === 'session') throw new ApiError('SESSION_INVALID', [session.ref]);
    if (why === 'lost' || reg.lost || why === 'timeout') continue;
    const since = reg.since;
    reg.since = sim.db.generation;
    const { rows, deleted } = sim.db.changesSince(since, accept);
    return eventsOf(since, rows, deleted, `${Math.floor(Date.now() / 1000)}.`, true);
  }
}

export function addEvents(reg: Registry): void {
  reg.add({
    name: 'event.from',
    params: [
      { name: 'classes', type: 'string_set' },
      { name: 'token', type: 'string' },
      { name: 'timeout', type: 'float' },
    ],
    session: true,
    run: (ctx, [classes, token, timeout]) => eventFrom(ctx, classes as string[], token as string, timeout as number),
  });
  reg.add({
    name: 'event.register',
    params: [{ name: 'classes', type: 'string_set' }],
    session: true,
    run: (ctx, [classes]) => {
      const s = ctx.session!;
      const prev = s.registered;
      s.registered = { classes: [...(prev?.classes ?? []), ...(classes as string[])], since: prev?.since ?? ctx.sim.db.generation, lost: false };
      return VOID;
    },
  });
  reg.add({
    name: 'event.unregister',
    params: [{ name: 'classes', type: 'string_set' }],
    session: true,
    run: (ctx, [classes]) => {
      const s = ctx.session!;
      if (s.registered) s.registered.classes = s.registered.classes.filter((c) => !(classes as string[]).includes(c));
      return VOID;
    },
  });
  reg.add({ name: 'event.next', params: [], session: true, run: (ctx) => eventNext(ctx) });
  reg.add({
    name: 'event.inject',
    params: [
      { name: 'class', type: 'string' },
      { name: 'ref', type: 'ref' },
    ],
    session: true,
    run: (ctx, [cls, ref]) => {
      const c = cls as string;
      const ok = ctx.sim.db.tables.has(c.toLowerCase()) && ctx.sim.db.touch(c, ref as string);
      if (!ok) throw new ApiError('HANDLE_INVALID', [c, ref as string]);
      return formatToken(ctx.sim.db.generation - 1);
    },
  });
  reg.add({ name: 'event.get_current_id', params: [], session: true, run: (ctx) => ctx.sim.db.generation });
}

/** sim.lose_events: event.next subscribers get EVENTS_LOST, older event.from tokens expire. */
export function loseEvents(sim: Sim): void {
  sim.db.touch('pool', sim.poolRef);
  // Tokens issued before this point are now too old; a fresh "" token is at this generation.
  sim.faults.eventsLostAt = sim.db.generation;
  for (const s of sim.sessions.values()) if (s.registered) s.registered.lost = true;
  sim.bus.emit('events-lost');
}
