// The two hosts the contract suite runs on, behind one small interface: the XenAPI backend against
// the real simulator process (XML-RPC over a Unix socket), and the xl backend against the fake
// xenstored and the fake `xl` child process. Each host arranges the same guest roles in its own world
// and answers the suite's questions from its own records (the simulator's API and call log, the fake
// host's domain table and xl call record) — never from the backend under test.

import { rm } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/log.js';
import type { Guest, Toolstack } from '../../src/toolstack/types.js';
import { createXenApiToolstack } from '../../src/toolstack/xenapi.js';
import { createXlToolstack } from '../../src/toolstack/xl.js';
import { stableUuid } from '../../src/toolstack/xl/guest-record.js';
import { type SimHandle, XapiFailure, spawnSim, until } from '../helpers/sim.js';
import { startFakeXenHost, type FakeXenHost } from '../unit/xenstore/fake-xen-host.js';

/**
 * start: halted, starts normally. broken: halted, its start fails. clean: running, obeys a clean
 * request. hung: running, takes the request and never halts. nopath: running, cannot be asked
 * cleanly. obeys: running, halts by itself on a request (xl: its domain then lingers unreaped).
 * deleted: halted, deleted by someone else. flaky: halted, its first start fails for a passing reason.
 */
export type Role = 'start' | 'broken' | 'clean' | 'hung' | 'nopath' | 'obeys' | 'deleted' | 'flaky';

export type Observed = 'Running' | 'Halted' | 'gone';

export interface ContractHost {
  kind: 'xenapi' | 'xl';
  toolstack: Toolstack;
  /** The backend's code for a start the toolstack refused (what the report must keep). */
  startRefusedCode: string;
  /** The guest playing `role`, as the backend lists it. */
  guest(role: Role): Promise<Guest>;
  /** The guest's state as the host itself knows it. */
  observed(role: Role): Promise<Observed>;
  /** Starts of this guest that reached the toolstack (failed ones included). */
  startsAsked(role: Role): Promise<number>;
  /** Resolves once the guest has stopped by itself (xl: shut down, not yet reaped). */
  stoppedByItself(role: Role): Promise<void>;
  deleteBehindTheBackendsBack(role: Role): Promise<void>;
  /** The next start of this guest fails once for a passing reason of this host's world. */
  failNextStartTransiently(role: Role): Promise<void>;
  close(): Promise<void>;
}

const name = (role: Role): string => `c-${role}`;

async function listed(ts: Toolstack, role: Role): Promise<Guest> {
  const g = (await ts.guests()).find((x) => x.name === name(role));
  if (!g) throw new Error(`guest ${name(role)} is not listed`);
  return g;
}

// ------------------------------------------------------------------ XenAPI over the simulator

const SCENARIO = {
  guests: [
    { name_label: name('start'), power_state: 'Halted', domain_type: 'pv', behaviour: { boot_s: 1 } },
    { name_label: name('broken'), power_state: 'Halted', domain_type: 'pv', behaviour: { start_error: 'VM_BOOT_FAILED' } },
    { name_label: name('clean'), power_state: 'Running', domain_type: 'pv', behaviour: { shutdown_s: 1 } },
    { name_label: name('hung'), power_state: 'Running', domain_type: 'pv', behaviour: { shutdown: 'hung' } },
    { name_label: name('nopath'), power_state: 'Running', domain_type: 'hvm', behaviour: { pv: false, agent_s: 'none' } },
    { name_label: name('obeys'), power_state: 'Running', domain_type: 'pv', behaviour: { shutdown_s: 1 } },
    { name_label: name('deleted'), power_state: 'Halted', domain_type: 'pv' },
    { name_label: name('flaky'), power_state: 'Halted', domain_type: 'pv', behaviour: { boot_s: 1 } },
  ],
};

/** The guest fields the contract checks against the simulator's own VM records, by uuid. */
export interface OwnRecord {
  name: string;
  powerState: string;
  residentOn: string | null;
  order: number;
  memoryMax: number;
  otherConfig: Record<string, string>;
  domainType: string;
  isControlDomain: boolean;
  isTemplate: boolean;
  isSnapshot: boolean;
  /** Its guest-metrics record has a PV drivers version. */
  pvDrivers: boolean;
}

export interface XenApiContractHost extends ContractHost {
  /** Every VM the simulator lists, as its own records say. */
  ownRecords(): Promise<Map<string, OwnRecord>>;
}

export async function xenapiHost(): Promise<XenApiContractHost> {
  const sim: SimHandle = await spawnSim({ scenario: SCENARIO, unix: true });
  const dir = mkdtempSync(join(tmpdir(), 'xg-contract-'));
  const toolstack = createXenApiToolstack({
    url: `unix:${sim.socketPath}`,
    user: 'root',
    password: '',
    callTimeoutMs: 10_000,
    log: silentLogger(),
    inventoryPath: join(dir, 'none'),
    eventTimeoutS: 5,
    backoff: { initialMs: 50, maxMs: 500 },
  });
  const session = await sim.login();
  const refs = new Map<Role, string>();
  const refOf = async (role: Role): Promise<string> => {
    const known = refs.get(role);
    if (known) return known;
    const [ref] = (await sim.call('VM.get_by_name_label', session, name(role))) as string[];
    if (!ref) throw new Error(`the simulator has no VM ${name(role)}`);
    refs.set(role, ref);
    return ref;
  };
  const powerState = async (role: Role): Promise<string | 'gone'> => {
    try {
      return String(await sim.call('VM.get_power_state', session, await refOf(role)));
    } catch (err) {
      if (err instanceof XapiFailure && err.code === 'HANDLE_INVALID') return 'gone';
      throw err;
    }
  };
  return {
    kind: 'xenapi',
    toolstack,
    startRefusedCode: 'VM_BOOT_FAILED',
    guest: (role) => listed(toolstack, role),
    async observed(role) {
      const state = await powerState(role);
      return state === 'gone' ? 'gone' : state === 'Running' ? 'Running' : 'Halted';
    },
    async startsAsked(role) {
      const ref = await refOf(role);
      const log = (await sim.call('sim.get_call_log', 0)) as { method: string; vm?: string; outcome: string }[];
      // The simulator names the VM only once a call got past its injected faults; those (the one
      // passing failure the suite injects, on this guest's start) are counted as well.
      return log.filter((e) => e.method === 'Async.VM.start' && (e.vm === ref || (e.vm === undefined && e.outcome === 'HOST_STILL_BOOTING'))).length;
    },
    async stoppedByItself(role) {
      await until(`${name(role)} halted`, async () => (await powerState(role)) === 'Halted');
    },
    async deleteBehindTheBackendsBack(role) {
      await sim.call('VM.destroy', session, await refOf(role));
    },
    async failNextStartTransiently() {
      // xapi still starting: the XenAPI client's own passing condition, retried with backoff.
      await sim.call('sim.inject_error', 'Async.VM.start', 1, 'HOST_STILL_BOOTING');
    },
    async ownRecords() {
      const hosts = (await sim.call('host.get_all_records', session)) as Record<string, { uuid: string }>;
      const vms = (await sim.call('VM.get_all_records', session)) as Record<string, Record<string, unknown>>;
      const metrics = (await sim.call('VM_guest_metrics.get_all_records', session)) as Record<string, { PV_drivers_version: Record<string, string> }>;
      const out = new Map<string, OwnRecord>();
      for (const vm of Object.values(vms)) {
        out.set(String(vm['uuid']), {
          name: String(vm['name_label']),
          powerState: String(vm['power_state']),
          residentOn: hosts[String(vm['resident_on'])]?.uuid ?? null,
          order: Number(vm['order']),
          memoryMax: Number(vm['memory_static_max']),
          otherConfig: vm['other_config'] as Record<string, string>,
          domainType: String(vm['domain_type']),
          isControlDomain: vm['is_control_domain'] === true,
          isTemplate: vm['is_a_template'] === true,
          isSnapshot: vm['is_a_snapshot'] === true,
          pvDrivers: 'major' in (metrics[String(vm['guest_metrics'])]?.PV_drivers_version ?? {}),
        });
      }
      return out;
    },
    async close() {
      await toolstack.close();
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------ xl over the fake Xen host

export async function xlHost(): Promise<ContractHost> {
  const host: FakeXenHost = await startFakeXenHost();
  const files = new Map<Role, string>();
  const roles: Role[] = ['start', 'broken', 'clean', 'hung', 'nopath', 'obeys', 'deleted', 'flaky'];
  for (const role of roles) files.set(role, await host.addConfig(name(role), { auto: true, type: role === 'nopath' ? 'hvm' : 'pv' }));
  host.behaviours.set(name('broken'), { failCreate: 'cannot allocate memory for domain' });
  host.behaviours.set(name('hung'), { hang: true });
  host.behaviours.set(name('nopath'), { type: 'hvm', featurePoweroff: false, failTrigger: true });
  host.behaviours.set(name('obeys'), { linger: true, shutdownMs: 20 });
  for (const role of ['clean', 'hung', 'nopath', 'obeys'] as const) host.runDomain(name(role), stableUuid(name(role)));
  const toolstack = createXlToolstack({
    ...host.wiring,
    guestTables: {},
    log: silentLogger(),
    // A domain that shut down stays unreaped for the whole test: the hard stop meets it so.
    reapGraceMs: 600_000,
    xlCreateTimeoutMs: 1_000,
  });
  const creates = (role: Role) => host.calls.filter((c) => c.args[0] === 'create' && c.args[1] === files.get(role));
  let deleted = false;
  return {
    kind: 'xl',
    toolstack,
    startRefusedCode: 'XL_CREATE_FAILED',
    guest: (role) => listed(toolstack, role),
    async observed(role) {
      if (host.domidOf(name(role)) !== null) return host.isLingering(name(role)) ? 'Halted' : 'Running';
      return role === 'deleted' && deleted ? 'gone' : 'Halted';
    },
    startsAsked: async (role) => creates(role).length,
    async stoppedByItself(role) {
      await until(`${name(role)} shut down`, async () => host.isLingering(name(role)) || host.domidOf(name(role)) === null);
    },
    async deleteBehindTheBackendsBack(role) {
      await rm(files.get(role)!);
      deleted = true;
    },
    async failNextStartTransiently() {
      // A hung `xl create`: the backend kills it at its bound and asks again.
      host.stallNext('create', 1);
    },
    async close() {
      await toolstack.close();
      await host.close();
    },
  };
}
