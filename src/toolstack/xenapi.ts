// The Toolstack backend for XCP-ng / XenServer: the engine's seam implemented on the XenAPI client.
// Reads are whole-table (get_all_records) and waits come from the client's event cache, so a run
// costs a handful of calls per guest however many guests there are.

import { readFile } from 'node:fs/promises';
import type { Logger } from '../log.js';
import {
  type AsyncCall,
  type BackoffPolicy,
  DEFAULT_BACKOFF,
  type GuestMetricsRecord,
  type HostRecord,
  type PoolRecord,
  type Protocol,
  type Ref,
  type VmRecord,
  type XenApiClient,
  CLIENT_CLOSED,
  XenApiError,
  createXenApiClient,
  type UnreadableRecord,
  decodeAll,
  decodeOrReport,
  logUnreadable,
  quoteLiteral,
  isUnavailable,
  isXenApiError,
} from '../xenapi/index.js';
import { fieldsOf } from '../xenapi/decode.js';
import { retry, sleep } from '../retry.js';
import { speakingMeanings } from './translate.js';
import { translateXapiError } from './xenapi-meanings.js';
import type {
  CleanShutdownAbility,
  CleanShutdownHandle,
  Guest,
  GuestStorage,
  GuestTools,
  HostInfo,
  HostMaintenance,
  PoolMigration,
  Toolstack,
  WaitOptions,
} from './types.js';
import { monotonicNow } from '../core/clock.js';

export interface XenApiToolstackOptions {
  url: string;
  user: string;
  password: string;
  caFile?: string;
  fingerprint?: string;
  /** Wire protocol, or 'auto' (the default): JSON-RPC when the host answers it, else XML-RPC. */
  protocol?: Protocol;
  callTimeoutMs: number;
  /** This host; default INSTALLATION_UUID from the inventory, else a one-host pool's host, else the master. */
  hostUuid?: string;
  log: Logger;
  /** Default /etc/xensource-inventory. */
  inventoryPath?: string;
  /** event.from timeout, seconds (default 30). */
  eventTimeoutS?: number;
  backoff?: BackoffPolicy;
  /** Shown in xapi's session list (default 'xen-guests'). */
  originator?: string;
}

export const INVENTORY_PATH = '/etc/xensource-inventory';

/**
 * A disabled host (xe host-disable, XO's maintenance mode) starts nothing: xapi would answer every
 * VM.start with NO_HOSTS_AVAILABLE anyway. XO and XenCenter also mark other_config:MAINTENANCE_MODE,
 * which alone changes nothing in xapi but says what the admin meant. xapi records neither when nor
 * who, so `since` and `by` stay unknown rather than guessed.
 */
function hostMaintenance(host: HostRecord): HostMaintenance | null {
  const marked = host.otherConfig['MAINTENANCE_MODE'] === 'true';
  if (host.enabled && !marked) return null;
  const what = [host.enabled ? '' : 'host.enabled = false', marked ? 'other_config:MAINTENANCE_MODE = true' : ''].filter(Boolean).join(', ');
  return { reason: `${what} (set by xe host-disable, Xen Orchestra or XenCenter; xe host-enable ends it)`, since: null, by: null };
}

interface ThisHost {
  ref: Ref;
  record: HostRecord;
  /** How it was chosen, for the log. */
  how: string;
}

export function createXenApiToolstack(opts: XenApiToolstackOptions): Toolstack {
  const log = opts.log;
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  const client: XenApiClient = createXenApiClient({
    url: opts.url,
    user: opts.user,
    password: opts.password,
    caFile: opts.caFile,
    fingerprint: opts.fingerprint,
    protocol: opts.protocol,
    callTimeoutMs: opts.callTimeoutMs,
    eventClasses: ['vm', 'vm_guest_metrics', 'task'],
    eventTimeoutS: opts.eventTimeoutS,
    backoff,
    originator: opts.originator,
    log,
  });
  let hosts: Map<Ref, HostRecord> | null = null;
  let thisHost: ThisHost | null = null;
  const uuidToRef = new Map<string, Ref>();

  async function loadHosts(): Promise<Map<Ref, HostRecord>> {
    hosts = await client.getAllRecords('host');
    return hosts;
  }

  /** Host uuids for refs; reloads the host table when it meets a ref it does not know. */
  async function hostTable(refs: Iterable<Ref | null> = []): Promise<Map<Ref, HostRecord>> {
    const table = hosts ?? (await loadHosts());
    for (const ref of refs) if (ref && !table.has(ref)) return loadHosts();
    return table;
  }

  async function resolveThisHost(): Promise<ThisHost> {
    if (thisHost) return thisHost;
    const table = await hostTable();
    const byUuid = (uuid: string, how: string): ThisHost => {
      for (const [ref, record] of table) if (record.uuid === uuid) return { ref, record, how };
      throw new XenApiError('UUID_INVALID', ['host', uuid], undefined,
        `host uuid "${uuid}" (${how}) is not a host of this pool; known: ${[...table.values()].map((h) => `${h.uuid} (${h.nameLabel})`).join(', ') || 'none'}`);
    };
    if (opts.hostUuid) {
      thisHost = byUuid(opts.hostUuid, 'xapi.hostUuid in the config');
    } else {
      const installation = await readInstallationUuid(opts.inventoryPath ?? INVENTORY_PATH);
      if (installation) {
        thisHost = byUuid(installation, `INSTALLATION_UUID in ${opts.inventoryPath ?? INVENTORY_PATH}`);
      } else if (table.size === 1) {
        const [ref, record] = [...table][0]!;
        thisHost = { ref, record, how: 'the only host of the pool' };
      } else {
        const pool = await onlyPool();
        const master = pool.master ? table.get(pool.master) : undefined;
        if (!pool.master || !master) throw new XenApiError('XENAPI_BAD_RESPONSE', ['pool.get_all_records', `pool master ${pool.master} is not among the hosts`]);
        thisHost = { ref: pool.master, record: master, how: 'the pool master (no hostUuid configured, no inventory)' };
      }
    }
    log.info({ host: thisHost.record.uuid, hostName: thisHost.record.nameLabel, how: thisHost.how }, `this host: ${thisHost.record.nameLabel} (${thisHost.record.uuid})`);
    return thisHost;
  }

  async function onlyPool(): Promise<PoolRecord> {
    const pools = await client.getAllRecords('pool');
    const pool = [...pools.values()][0];
    if (!pool) throw new XenApiError('XENAPI_BAD_RESPONSE', ['pool.get_all_records', 'no pool']);
    return pool;
  }

  function toGuest(vm: VmRecord, gm: GuestMetricsRecord | undefined, table: Map<Ref, HostRecord>): Guest {
    uuidToRef.set(vm.uuid, vm.ref);
    const tools = guestTools(gm);
    return {
      ref: vm.ref,
      uuid: vm.uuid,
      name: vm.nameLabel,
      powerState: vm.powerState,
      isTemplate: vm.isATemplate,
      isSnapshot: vm.isASnapshot,
      isControlDomain: vm.isControlDomain,
      residentOn: vm.residentOn ? table.get(vm.residentOn)?.uuid ?? null : null,
      migratingTo: migratingTo(vm, table),
      affinity: vm.affinity ? table.get(vm.affinity)?.uuid ?? null : null,
      order: vm.order,
      startDelay: vm.startDelay,
      shutdownDelay: vm.shutdownDelay,
      otherConfig: vm.otherConfig,
      blockedOperations: vm.blockedOperations,
      memoryRequired: vm.memoryDynamicMin + vm.memoryOverhead,
      memoryMax: vm.memoryStaticMax,
      cleanShutdown: cleanShutdownAbility(vm, tools),
      tools,
      // The VM's field, known even when the record is not: it tells the last run's record from this run's.
      ...(vm.guestMetrics ? { toolsRecord: vm.guestMetrics } : {}),
      xenstoreData: vm.xenstoreData,
      currentOperations: vm.currentOperations,
      domainType: vm.domainType,
      haRestartPriority: vm.haRestartPriority,
    };
  }

  function migratingTo(vm: VmRecord, table: Map<Ref, HostRecord>): string | null {
    if (!vm.scheduledToBeResidentOn || !Object.values(vm.currentOperations).includes('pool_migrate')) return null;
    return table.get(vm.scheduledToBeResidentOn)?.uuid ?? null;
  }

  /**
   * Guests built from cache records, per record object: every waiter re-checks its guest after each
   * event batch, and a record replaced by an event is a new object, so this never serves stale data.
   */
  const fromRecord = new WeakMap<VmRecord, { gm: GuestMetricsRecord | undefined; table: Map<Ref, HostRecord>; guest: Guest }>();
  function cachedToGuest(vm: VmRecord, gm: GuestMetricsRecord | undefined, table: Map<Ref, HostRecord>): Guest {
    const hit = fromRecord.get(vm);
    if (hit && hit.gm === gm && hit.table === table) return hit.guest;
    const guest = toGuest(vm, gm, table);
    fromRecord.set(vm, { gm, table, guest });
    return guest;
  }

  /** A guest from the event cache, or undefined when the cache does not have it. */
  function cachedGuest(uuid: string, table: Map<Ref, HostRecord>): Guest | undefined {
    const events = client.events;
    let ref = uuidToRef.get(uuid);
    let vm = ref ? events.get('vm', ref) : undefined;
    if (!vm || vm.uuid !== uuid) {
      vm = events.find('vm', (v) => v.uuid === uuid);
      ref = vm?.ref;
    }
    if (!vm) return undefined;
    const gm = vm.guestMetrics ? events.get('vm_guest_metrics', vm.guestMetrics) : undefined;
    return cachedToGuest(vm, gm, table);
  }

  /** Every guest as the event cache has it: no call, nothing to decode. */
  async function cachedGuests(): Promise<Guest[]> {
    const events = client.events;
    const vms = [...events.all('vm').values()];
    const table = await hostTable(vms.flatMap((v) => [v.residentOn, v.affinity]));
    return vms.map((vm) => cachedToGuest(vm, vm.guestMetrics ? events.get('vm_guest_metrics', vm.guestMetrics) : undefined, table));
  }

  /**
   * Every guest from the event cache's own sync, once the cache is as fresh as a read begun now
   * (events.current): the loop is then already following events, and the plan's read was its
   * read. The records the sync could not decode (the cache logged each) are reported, not dropped.
   * When get_all_records itself fails, the sync has read every VM one by one: that covers what
   * residentFallback asks for, with every other host's guests besides.
   */
  async function guestsThroughEvents(deadline: number, onUnreadable: (bad: UnreadableRecord) => void): Promise<Guest[]> {
    await client.events.current({ deadline });
    for (const bad of client.events.unreadableOf('vm').values()) onUnreadable(bad);
    return cachedGuests();
  }

  /**
   * A fresh read of only the guests not Halted on this host (VM.get_all_records_where): at the end of
   * a shutdown that is usually none, so the check costs one small answer instead of the whole table.
   * null when the toolstack has no such call (the caller then reads everything).
   */
  async function liveOnThisHost(onUnreadable: (bad: UnreadableRecord) => void): Promise<Guest[] | null> {
    const me = await resolveThisHost();
    const call = 'VM.get_all_records_where';
    let value: unknown;
    try {
      value = await client.call(call, `field "resident_on" = ${quoteLiteral(me.ref)} and not (field "power_state" = "Halted")`);
    } catch (err) {
      if (isXenApiError(err, 'MESSAGE_METHOD_UNKNOWN') || isXenApiError(err, 'INVALID_VALUE')) return null;
      throw err;
    }
    const vms = [...decodeAll(call, 'vm', value, onUnreadable).values()];
    const table = await hostTable(vms.flatMap((v) => [v.residentOn, v.affinity]));
    const guests: Guest[] = [];
    for (const vm of vms) {
      const gm = vm.guestMetrics ? await client.getRecord('vm_guest_metrics', vm.guestMetrics).catch(() => undefined) : undefined;
      guests.push(toGuest(vm, gm, table));
    }
    return guests;
  }

  /**
   * This host's resident guests, one VM.get_record each (host.resident_VMs): the fallback when the
   * whole-table read fails. A guest that cannot be read is reported and left out; a guest gone
   * meanwhile is simply absent.
   */
  async function residentGuests(onUnreadable: (bad: UnreadableRecord) => void): Promise<Guest[]> {
    const me = await resolveThisHost();
    const host = await client.getRecord('host', me.ref);
    const guests: Guest[] = [];
    for (const ref of host.residentVms) {
      let raw: unknown;
      try {
        raw = await client.call('VM.get_record', ref);
      } catch (err) {
        if (isXenApiError(err, 'HANDLE_INVALID')) continue;
        if (isUnavailable(err)) throw err;
        const bad: UnreadableRecord = { cls: 'vm', ref, uuid: null, name: null, problem: `VM.get_record failed: ${(err as Error).message}` };
        logUnreadable(log, bad);
        onUnreadable(bad);
        continue;
      }
      const vm = decodeOrReport('VM.get_record', 'vm', ref, raw, (bad) => (logUnreadable(log, bad), onUnreadable(bad)));
      if (!vm) continue;
      const gm = vm.guestMetrics ? await client.getRecord('vm_guest_metrics', vm.guestMetrics).catch(() => undefined) : undefined;
      guests.push(toGuest(vm, gm, await hostTable([vm.residentOn, vm.affinity])));
    }
    return guests;
  }

  /**
   * Read-your-writes: once the event cache serves guest(), a write returns only when the cache shows
   * it (an event, not a call), so the caller's next read agrees with what it just did. Bounded.
   */
  async function cacheShows(ref: Ref, holds: (vm: VmRecord) => boolean): Promise<void> {
    if (!client.events.synced) return;
    await client.events.waitFor((view, ctx) => {
      const vm = view.get('vm', ref);
      return (vm && holds(vm)) || (!vm && ctx.gone('vm', ref)) ? true : undefined;
    }, { deadline: monotonicNow() + opts.callTimeoutMs });
  }

  /** Task lost to a toolstack restart: the VM's power state tells whether the operation happened. */
  async function settleLostTask(err: unknown, guest: Guest, wanted: Guest['powerState']): Promise<void> {
    if (!isXenApiError(err, 'XENAPI_TASK_LOST')) throw err;
    const vm = await client.getRecord('vm', guest.ref);
    if (vm.powerState !== wanted) throw err;
    log.info({ guest: guest.name, powerState: vm.powerState }, 'task lost to a toolstack restart, but the guest reached the state');
  }

  /**
   * VM.start_on, with start_delay counted once. xapi sleeps start_delay twice on this path (in
   * xapi_vm.ml's start and again in message_forwarding.ml's start_on) where VM.start sleeps it once:
   * the start counts as done, as with VM.start, one start_delay after the guest runs. The task's
   * second sleep goes on inside xapi; a failure it might still report is logged, not waited for.
   */
  async function startOnCountingDelayOnce(guest: Guest, me: ThisHost, waitOpts: WaitOptions): Promise<void> {
    const task = runTask(guest, 'VM.start_on', [guest.ref, me.ref, false, false], waitOpts, 'Running');
    if (guest.startDelay <= 0) return task;
    const stop = new AbortController();
    const signal = waitOpts.signal ? AbortSignal.any([waitOpts.signal, stop.signal]) : stop.signal;
    const delayedOnce = toolstack.waitFor(guest.uuid, (g) => g.powerState === 'Running', { deadline: waitOpts.deadline, signal }).then(async (r) => {
      if (r === 'timeout' || r === 'gone') return r;
      await sleep(Math.min(guest.startDelay * 1000, Math.max(0, waitOpts.deadline - monotonicNow())), signal);
      return 'delayed-once' as const;
    });
    try {
      const first = await Promise.race([task.then(() => 'task-done' as const), delayedOnce]);
      if (first !== 'delayed-once') return await task; // the task's own answer decides
      task.catch((err: unknown) => log.warn({ guest: guest.name, err: (err as Error).message }, 'VM.start_on failed after the guest ran and its start_delay passed'));
    } finally {
      stop.abort();
      delayedOnce.catch(() => undefined);
    }
  }

  async function runTask(guest: Guest, method: string, params: unknown[], waitOpts: WaitOptions, wanted: Guest['powerState']): Promise<void> {
    const call = await client.callAsyncWith({ deadline: waitOpts.deadline, signal: waitOpts.signal }, method, ...params);
    try {
      await call.result;
    } catch (err) {
      if (isXenApiError(err, 'XENAPI_TASK_TIMEOUT')) {
        // Past the caller's deadline: withdraw the operation rather than let it land unowned.
        await call.cancel().catch((e) => log.debug({ err: (e as Error).message }, 'task.cancel failed'));
        throw err;
      }
      await settleLostTask(err, guest, wanted);
    }
  }

  const pool: PoolMigration = {
    async hosts() {
      return [...(await loadHosts()).values()].map((h) => ({ uuid: h.uuid, name: h.nameLabel }));
    },
    async disableThisHost() {
      await client.call('host.disable', (await resolveThisHost()).ref);
    },
    async enableThisHost() {
      await client.call('host.enable', (await resolveThisHost()).ref);
    },
    async migrationTarget(guest, waitOpts) {
      const me = await resolveThisHost();
      // Fresh: a host disabled since the last read must not be chosen.
      const others = [...(await loadHosts()).values()].filter((h) => h.ref !== me.ref && h.enabled);
      if (others.length === 0) throw new XenApiError('NO_HOSTS_AVAILABLE', [], undefined, 'no other enabled host in the pool');
      const call = { timeoutMs: Math.max(1, Math.min(opts.callTimeoutMs, waitOpts.deadline - monotonicNow())), signal: waitOpts.signal };
      const free = await Promise.all(others.map(async (h) => ({ h, free: toInt('host.compute_free_memory', await client.callWith(call, 'host.compute_free_memory', h.ref)) })));
      free.sort((a, b) => b.free - a.free);
      let last: unknown = null;
      for (const { h } of free) {
        try {
          // xapi's own check of everything VM.pool_migrate needs of the destination.
          await client.callWith(call, 'VM.assert_can_boot_here', guest.ref, h.ref);
          return { uuid: h.uuid, name: h.nameLabel };
        } catch (err) {
          if (!(err instanceof XenApiError) || isUnavailable(err)) throw err;
          last = err;
        }
      }
      throw last;
    },
    async migrate(guest, to, waitOpts) {
      const dest = [...(await hostTable()).values()].find((h) => h.uuid === to.uuid);
      if (!dest) throw new XenApiError('UUID_INVALID', ['host', to.uuid]);
      const call = await client.callAsyncWith({ deadline: waitOpts.deadline, signal: waitOpts.signal }, 'VM.pool_migrate', guest.ref, dest.ref, { live: 'true' });
      try {
        await call.result;
      } catch (err) {
        // Out of time: withdraw it, so that the guest is here (to be stopped) or there, not in between.
        if (isXenApiError(err, 'XENAPI_TASK_TIMEOUT')) await call.cancel().catch((e) => log.debug({ err: (e as Error).message }, 'task.cancel failed'));
        throw err;
      }
      // The next read (the sweep of guests still here) must see it there, not here.
      await cacheShows(guest.ref, (vm) => vm.residentOn === dest.ref);
    },
  };

  const toolstack: Toolstack = {
    kind: 'xenapi',
    pool,

    async waitUntilReady({ deadline, signal, onWaiting }) {
      let lastWhy = '';
      const probe = async (attempt: number): Promise<void> => {
        const probeOpts = { timeoutMs: Math.max(1, Math.min(opts.callTimeoutMs, deadline - monotonicNow())), signal, retryUnavailable: false };
        await client.connect(probeOpts);
        // Logging in works while xapi is still starting; a real call tells HOST_STILL_BOOTING.
        await client.callWith(probeOpts, 'pool.get_all');
        if (attempt > 0) log.info({ endpoint: client.endpoint }, 'toolstack is answering');
      };
      try {
        await retry(probe, {
          ...backoff,
          deadline,
          now: monotonicNow,
          signal,
          retryable: (err) => isUnavailable(err) || isXenApiError(err, 'XENAPI_CALL_TIMEOUT'),
          onRetry: (err) => {
            lastWhy = describeUnavailable(err as XenApiError, client.endpoint);
            onWaiting?.(lastWhy);
          },
        });
      } catch (err) {
        if (signal?.aborted || !(isUnavailable(err) || isXenApiError(err, 'XENAPI_CALL_TIMEOUT'))) throw err;
        lastWhy = describeUnavailable(err as XenApiError, client.endpoint);
        // The last failure goes along as the cause: its code and parameters are what a report shows.
        throw new XenApiError('XENAPI_NOT_READY', [client.endpoint, lastWhy], undefined,
          `the toolstack at ${client.endpoint} did not become ready before the deadline; the last attempt: ${lastWhy}`, { cause: err });
      }
    },

    async host(): Promise<HostInfo> {
      const me = await resolveThisHost();
      // Read afresh: enabled and other_config change under us (xe host-disable, XO's maintenance mode).
      const [pool, free, table] = await Promise.all([onlyPool(), client.call('host.compute_free_memory', me.ref), loadHosts()]);
      const record = table.get(me.ref) ?? me.record;
      return {
        uuid: record.uuid,
        name: record.nameLabel,
        freeMemory: toInt('host.compute_free_memory', free),
        poolSize: table.size,
        poolAutoPoweron: pool.otherConfig['auto_poweron'] === 'true',
        maintenance: hostMaintenance(record),
        haEnabled: pool.haEnabled,
        ...(client.wireProtocol ? { protocol: client.wireProtocol } : {}),
      };
    },

    async sendAlert(alert) {
      // priority is an int64 on the wire: a decimal string (xapi also takes an <int>, not needed here).
      await client.call('message.create', alert.name, String(alert.priority), alert.cls, alert.objUuid, alert.body);
    },

    async guests(query = {}): Promise<Guest[]> {
      const onUnreadable = (bad: UnreadableRecord): void => {
        if (bad.cls === 'vm') query.onUnreadable?.({ ref: bad.ref, uuid: bad.uuid, name: bad.name, problem: bad.problem });
      };
      if (query.throughEvents) {
        try {
          return await guestsThroughEvents(query.deadline ?? monotonicNow() + opts.callTimeoutMs, onUnreadable);
        } catch (err) {
          // A sync that failed for another reason than an outage or the time: read directly (and
          // from there one by one) rather than stop nothing at host shutdown.
          if (!query.residentFallback || isUnavailable(err) || isXenApiError(err, 'XENAPI_CALL_TIMEOUT') || isXenApiError(err, CLIENT_CLOSED)) throw err;
          log.error({ err: (err as Error).message }, 'the event cache could not read the guests; reading them directly');
        }
      }
      if (query.liveOnThisHost) {
        const live = await liveOnThisHost((bad) => (logUnreadable(log, bad), onUnreadable(bad)));
        if (live) return live;
      }
      try {
        const [vms, metrics] = await Promise.all([client.getAllRecords('vm', { onUnreadable }), client.getAllRecords('vm_guest_metrics')]);
        const table = await hostTable([...vms.values()].flatMap((v) => [v.residentOn, v.affinity]));
        return [...vms.values()].map((vm) => toGuest(vm, vm.guestMetrics ? metrics.get(vm.guestMetrics) : undefined, table));
      } catch (err) {
        if (!query.residentFallback || isUnavailable(err)) throw err;
        log.error({ err: (err as Error).message }, 'reading every VM failed; reading the guests resident on this host one by one');
        return residentGuests(onUnreadable);
      }
    },

    async guest(uuid: string): Promise<Guest | null> {
      const table = await hostTable();
      if (client.events.synced) return cachedGuest(uuid, table) ?? null;
      let ref: Ref;
      try {
        ref = String(await client.call('VM.get_by_uuid', uuid));
      } catch (err) {
        if (isXenApiError(err, 'UUID_INVALID')) return null;
        throw err;
      }
      const vm = await client.getRecord('vm', ref);
      const gm = vm.guestMetrics ? await client.getRecord('vm_guest_metrics', vm.guestMetrics).catch(() => undefined) : undefined;
      return toGuest(vm, gm, await hostTable([vm.residentOn, vm.affinity]));
    },

    async lastStartTime(guest) {
      const vm = await client.getRecord('vm', guest.ref);
      if (!vm.metrics) return null;
      return (await client.getRecord('vm_metrics', vm.metrics)).startTime;
    },

    async start(guest, waitOpts) {
      const me = await resolveThisHost();
      const onePool = (hosts?.size ?? 1) === 1;
      // On a one-host pool VM.start lands on this host anyway, and sleeps start_delay once.
      try {
        if (onePool) await runTask(guest, 'VM.start', [guest.ref, false, false], waitOpts, 'Running');
        else await startOnCountingDelayOnce(guest, me, waitOpts);
      } catch (err) {
        throw await whyNoHost(client, err, guest.ref, me.ref);
      }
    },

    async requestCleanShutdown(guest): Promise<CleanShutdownHandle> {
      const call: AsyncCall = await client.callAsync('VM.clean_shutdown', guest.ref);
      const done = call.result.then(
        () => undefined,
        (err) => settleLostTask(err, guest, 'Halted'),
      );
      done.catch(() => undefined); // the engine may cancel and never look at it
      return { done, cancel: () => call.cancel() };
    },

    async hardShutdown(guest, waitOpts) {
      try {
        await runTask(guest, 'VM.hard_shutdown', [guest.ref], waitOpts, 'Halted');
      } catch (err) {
        // Halted meanwhile (its clean shutdown won the race): what we wanted, but not by our hand.
        if (isXenApiError(err, 'VM_BAD_POWER_STATE') && (err.params[2] ?? '').toLowerCase() === 'halted') return 'already-halted';
        throw err;
      }
    },

    async waitFor(uuid, until, waitOpts) {
      const table = await hostTable();
      let everSeen = false;
      return client.events.waitFor<Guest | 'gone'>(
        (_view, ctx) => {
          const guest = cachedGuest(uuid, table);
          if (!guest) {
            const ref = uuidToRef.get(uuid);
            return !ref || !everSeen || ctx.gone('vm', ref) ? 'gone' : undefined;
          }
          everSeen = true;
          return until(guest) ? guest : undefined;
        },
        { deadline: waitOpts.deadline, signal: waitOpts.signal },
      );
    },

    async storageOf(guests): Promise<Map<string, GuestStorage[]>> {
      const me = await resolveThisHost();
      return readGuestStorage(client, guests, me.ref);
    },

    async plugStorage(srUuid) {
      const me = await resolveThisHost();
      const sr = String(await client.call('SR.get_by_uuid', srUuid));
      const pbds = asStruct(await client.call('PBD.get_all_records_where', `field "SR" = ${quoteLiteral(sr)} and field "host" = ${quoteLiteral(me.ref)}`));
      const pbd = Object.entries(pbds)[0];
      // Our own code, not xapi's: plugging cannot help an SR this host has no PBD for.
      if (!pbd) throw new XenApiError('SR_HAS_NO_PBD_ON_THIS_HOST', [srUuid], 'PBD.get_all_records_where');
      if (asStruct(pbd[1])['currently_attached'] === true) return;
      await client.call('PBD.plug', pbd[0]);
    },

    async setOtherConfigKey(guest, key, value) {
      await setMapKey(client, 'other_config', guest.ref, key, value);
      await cacheShows(guest.ref, (vm) => vm.otherConfig[key] === value);
    },
    async removeOtherConfigKey(guest, key) {
      await client.call('VM.remove_from_other_config', guest.ref, key);
      await cacheShows(guest.ref, (vm) => !(key in vm.otherConfig));
    },
    async setBlockedOperation(guest, operation, reason) {
      await setMapKey(client, 'blocked_operations', guest.ref, operation, reason);
      await cacheShows(guest.ref, (vm) => vm.blockedOperations[operation] === reason);
    },
    async removeBlockedOperation(guest, operation) {
      await client.call('VM.remove_from_blocked_operations', guest.ref, operation);
      await cacheShows(guest.ref, (vm) => !(operation in vm.blockedOperations));
    },
    close: () => client.close(),
  };
  return speakingMeanings(toolstack, translateXapiError);
}

/** add_to_ fails on an existing key (MAP_DUPLICATE_KEY): then replace it. One call when the key is new. */
/**
 * VM.start answers only NO_HOSTS_AVAILABLE when no host can take the guest; assert_can_boot_here on
 * this host names the reason (VM_REQUIRES_SR for an SR not plugged, HOST_DISABLED …), which decides
 * whether asking again can help. Any other failure, or a check that passes now, is left as it was.
 */
async function whyNoHost(client: XenApiClient, err: unknown, vm: Ref, host: Ref): Promise<unknown> {
  if (!isXenApiError(err, 'NO_HOSTS_AVAILABLE')) return err;
  try {
    await client.call('VM.assert_can_boot_here', vm, host);
  } catch (reason) {
    if (isXenApiError(reason)) return reason;
  }
  return err;
}

function asStruct(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/**
 * Guests → their disk VBDs → their VDIs' SRs → this host's PBD of each: one entry per SR, in disk
 * order. Three calls however many guests (issue 15: a read per guest was 1 to 4 calls each, all at
 * once at every group change): the pool's disk VBDs, filtered here to these guests; every SR, each
 * listing its VDIs (xapi keeps SR.VDIs as the other side of VDI.SR), instead of a VDI.get_SR per
 * disk; and this host's PBDs. When none of the guests has a disk, the VBD read is the only one.
 * "Disk" is the enum's DB string form, as "Halted" is for power_state above.
 */
async function readGuestStorage(client: XenApiClient, guests: readonly Pick<Guest, 'uuid' | 'ref'>[], host: Ref): Promise<Map<string, GuestStorage[]>> {
  const vbds = recordsAnswer('VBD.get_all_records_where', await client.call('VBD.get_all_records_where', 'field "type" = "Disk"'));
  const disks = disksOf(vbds, new Set(guests.map((g) => g.ref)));
  const out = new Map<string, GuestStorage[]>(guests.map((g) => [g.uuid, []]));
  if (disks.size === 0) return out;
  const [srs, pbds] = await Promise.all([
    client.call('SR.get_all_records'),
    client.call('PBD.get_all_records_where', `field "host" = ${quoteLiteral(host)}`),
  ]);
  // Each record is checked where it is used: a malformed one fails the group's read with an error
  // naming the call, the ref, the field and the value (readGroupStorage logs it and starts the group),
  // never an SR named "undefined" or a disk list read as empty, which would start a guest without
  // waiting for storage that is not there.
  const srOfVdi = new Map<string, string>();
  const srRecords = new Map<string, ReturnType<typeof fieldsOf>>();
  for (const [ref, value] of Object.entries(recordsAnswer('SR.get_all_records', srs))) {
    const sr = fieldsOf({ call: 'SR.get_all_records', path: ref }, value);
    srRecords.set(ref, sr);
    for (const vdi of sr.refs('VDIs')) srOfVdi.set(vdi, ref);
  }
  const attachedHere = new Set<string>();
  for (const [ref, value] of Object.entries(recordsAnswer('PBD.get_all_records_where', pbds))) {
    const pbd = fieldsOf({ call: 'PBD.get_all_records_where', path: ref }, value);
    const sr = pbd.ref('SR');
    if (pbd.bool('currently_attached') && sr !== null) attachedHere.add(sr);
  }
  // Only the SRs these guests' disks are on are named: another SR's name is not ours to check.
  const named = new Map<string, Omit<GuestStorage, 'plugged'>>();
  const storageOf = (ref: string): Omit<GuestStorage, 'plugged'> => {
    const known = named.get(ref);
    if (known) return known;
    const sr = srRecords.get(ref)!;
    const found = { uuid: sr.str('uuid'), name: sr.str('name_label') };
    named.set(ref, found);
    return found;
  };
  for (const g of guests) {
    // A VDI no SR lists (destroyed after the VBD read): nothing to wait for, the start says the rest.
    const srRefs = [...new Set((disks.get(g.ref) ?? []).flatMap((vdi) => srOfVdi.get(vdi) ?? []))];
    out.set(
      g.uuid,
      srRefs.map((ref) => ({ ...storageOf(ref), plugged: attachedHere.has(ref) })),
    );
  }
  return out;
}

/** A get_all_records answer: a map of ref → record; anything else is a bad answer, not "none". */
function recordsAnswer(call: string, v: unknown): Record<string, unknown> {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  throw new XenApiError('XENAPI_BAD_RESPONSE', [call, `expected a map of ref to record, got ${JSON.stringify(v)?.slice(0, 80)}`], call);
}

/**
 * VM ref → the VDIs of its non-empty disk VBDs, in device order, for the VMs in `vms` only. Every
 * VBD's VM is checked (a VBD whose VM cannot be read could be one of ours); the other fields only
 * for our VMs' disks.
 */
function disksOf(vbds: Record<string, unknown>, vms: ReadonlySet<string>): Map<string, string[]> {
  const found: { vm: string; vdi: string; device: number }[] = [];
  for (const [ref, value] of Object.entries(vbds)) {
    const vbd = fieldsOf({ call: 'VBD.get_all_records_where', path: ref }, value);
    const vm = vbd.ref('VM');
    if (vm === null || !vms.has(vm)) continue;
    const vdi = vbd.ref('VDI', true);
    if (vbd.str('type') !== 'Disk' || vbd.bool('empty', false) || vdi === null) continue;
    // userdevice is a position ("0", "1"…); anything else sorts after the numbered disks.
    const userdevice = vbd.str('userdevice', '');
    found.push({ vm, vdi, device: /^\d+$/.test(userdevice) ? Number(userdevice) : Number.MAX_SAFE_INTEGER });
  }
  found.sort((a, b) => a.device - b.device);
  const byVm = new Map<string, string[]>();
  for (const d of found) {
    const list = byVm.get(d.vm) ?? [];
    list.push(d.vdi);
    byVm.set(d.vm, list);
  }
  return byVm;
}

async function setMapKey(client: XenApiClient, field: string, ref: Ref, key: string, value: string): Promise<void> {
  try {
    await client.call(`VM.add_to_${field}`, ref, key, value);
  } catch (err) {
    if (!isXenApiError(err, 'MAP_DUPLICATE_KEY')) throw err;
    await client.call(`VM.remove_from_${field}`, ref, key);
    await client.call(`VM.add_to_${field}`, ref, key, value);
  }
}

function toInt(call: string, v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw new XenApiError('XENAPI_BAD_RESPONSE', [call, `expected an integer, got ${JSON.stringify(v)}`], call);
  return n;
}

/** INSTALLATION_UUID='…' from the xensource inventory, or null when unreadable or absent. */
export async function readInstallationUuid(path: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  const m = /^INSTALLATION_UUID=['"]?([0-9a-fA-F-]{36})['"]?\s*$/m.exec(text);
  return m ? m[1]!.toLowerCase() : null;
}

function describeUnavailable(err: XenApiError, endpoint: string): string {
  if (err.code === 'HOST_STILL_BOOTING') return `xapi at ${endpoint} is still starting (HOST_STILL_BOOTING)`;
  if (err.code === 'XENAPI_CALL_TIMEOUT') return `xapi at ${endpoint} does not answer (timeout)`;
  const errno = err.params[1] ?? '';
  const what: Record<string, string> = {
    ECONNREFUSED: 'refuses connections',
    ENOENT: 'has no socket yet',
    ECONNRESET: 'dropped the connection',
  };
  return `xapi at ${endpoint} ${what[errno] ?? 'is unreachable'} (${errno})`;
}

/**
 * PV drivers as xapi counts them: a PV_drivers_version with integer major and minor.
 *
 * "The agent reports" is decided from what only a guest agent writes: that PV drivers version, or
 * a non-empty os_version. `live` alone says nothing: xapi creates the guest-metrics record with
 * live = true and empty maps the moment the VM becomes Running, before any agent exists (recorded
 * from a real xapi: shared/xapi-traces 03/04, issue 12). Its last_updated is stamped at that
 * creation too, within the same seconds as the start, so it cannot tell an agent's write apart.
 * The record of the last run outlives the halt (live, with what that run's agent wrote) until the
 * next start, which resets guest_metrics (shared/xenapi/REFERENCE.md §VM), so a Running guest should
 * never show it. Defensively, should xapi still show the last run's record after Running, the
 * guest's toolsRecord tells the two apart (readinessHolds): a cheap guard, not recorded behaviour.
 */
export function guestTools(gm: GuestMetricsRecord | undefined): GuestTools {
  if (!gm) return { pvDrivers: false, version: null, agentLive: false, upToDate: null, features: [] };
  const v = gm.pvDriversVersion;
  const isInt = (s: string | undefined) => s !== undefined && /^\d+$/.test(s);
  const pvDrivers = isInt(v['major']) && isInt(v['minor']);
  const version = pvDrivers
    ? `${v['major']}.${v['minor']}${v['micro'] !== undefined ? `.${v['micro']}` : ''}${v['build'] ? `-${v['build']}` : ''}`
    : null;
  const features = Object.entries(gm.other)
    .filter(([k, value]) => k.startsWith('feature-') && value === '1')
    .map(([k]) => k.slice('feature-'.length))
    .sort();
  const agentWrote = pvDrivers || Object.values(gm.osVersion).some((value) => value !== '');
  return { pvDrivers, version, agentLive: gm.live && agentWrote, upToDate: pvDrivers ? gm.pvDriversUpToDate : null, features };
}

/**
 * Whether xapi would accept VM.clean_shutdown (REFERENCE §5 step 1), and whether the guest can act
 * on it: a paused guest would accept the request but never acknowledge it.
 */
export function cleanShutdownAbility(vm: VmRecord, tools: GuestTools): CleanShutdownAbility {
  if (vm.powerState === 'Paused') return { able: false, reason: 'Paused: a paused guest cannot act on a shutdown request' };
  if (vm.powerState !== 'Running') return { able: false, reason: `${vm.powerState}: not running` };
  const pvBooted = vm.domainType === 'pv' || vm.domainType === 'pv_in_pvh' || (vm.domainType === 'unspecified' && vm.hvmBootPolicy === '');
  if (pvBooted) return { able: true, reason: 'PV guest: its kernel handles control/shutdown' };
  if (tools.pvDrivers) return { able: true, reason: `PV drivers ${tools.version} detected` };
  const feature = tools.features.find((f) => f === 'shutdown' || f === 'poweroff');
  if (feature) return { able: true, reason: `guest advertises feature-${feature}` };
  return { able: false, reason: 'HVM guest without PV drivers or feature-shutdown/feature-poweroff' };
}
