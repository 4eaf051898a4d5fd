// Programmatic API: start a simulated XenAPI host in this process (demo, benchmarks) with the same
// options as `xen-guests sim`.

import { addClasses } from './api/classes.js';
import { addEvents } from './api/events.js';
import { Registry } from './api/registry.js';
import { addSimCalls } from './api/sim-calls.js';
import { addStorage } from './api/storage-calls.js';
import { addMessages } from './api/messages.js';
import { addSetHa } from './api/ha.js';
import { addVmConfig } from './api/vm-config.js';
import { addMigration } from './api/migrate.js';
import { addEvacuation } from './api/evacuate.js';
import { buildSim, describeGeneratedMix } from './build.js';
import { parseListen, startHttp, type ListenSpec } from './http.js';
import { loadScenarioFile, parseScenario, type Scenario } from './scenario.js';
import { recordTimeline, type Sim } from './state.js';
import { dropAllTasks } from './tasks.js';

export { parseScenario, ScenarioError } from './scenario.js';
export type { Scenario } from './scenario.js';

export interface SimulatorOptions {
  /** `HOST:PORT` (port 0 = any free port) and/or `unix:/path`; default 127.0.0.1:0. */
  listen?: string[];
  /** Ordinary guests to generate, besides the scenario's. */
  guests?: number;
  /** Live hosts in the pool at least (`--hosts N`); every one answers on this endpoint, as a pool master does. */
  hosts?: number;
  /** A scenario: a file path, or an already parsed/plain object. */
  scenario?: string | object;
  /** Real seconds per simulated second (0.01 = 100× faster). Default 1. */
  timeScale?: number;
  seed?: number;
  /** Credentials accepted over TCP (the Unix socket accepts any). Default root / "". */
  user?: string;
  password?: string;
  /** Serve JSON-RPC on /jsonrpc (default true); false answers it as an xapi without JSON-RPC would. */
  jsonRpc?: boolean;
  /** Diagnostic messages (default: none). */
  log?: (msg: string) => void;
}

export interface Simulator {
  tcpUrl?: string;
  socketPath?: string;
  /** The host this simulator is, and its pool. */
  hostUuid: string;
  guestCount: number;
  /** The kinds of the generated guests, e.g. "7 HVM with PV drivers and agent, 2 PV, 1 HVM without PV drivers" ('' if none). */
  generatedMix: string;
  timeScale: number;
  /** The in-process state, for white-box tests. */
  sim: Sim;
  close(): Promise<void>;
}

export function buildRegistry(): Registry {
  const reg = new Registry();
  addClasses(reg);
  addVmConfig(reg);
  addMigration(reg);
  addEvacuation(reg);
  addMessages(reg);
  addEvents(reg);
  addSimCalls(reg);
  addStorage(reg);
  addSetHa(reg);
  return reg;
}

function resolveScenario(s: string | object | undefined): Scenario {
  if (s === undefined) return parseScenario({});
  if (typeof s === 'string') return loadScenarioFile(s);
  return parseScenario(s);
}

/** Drops sessions and tasks and what they held, as an xapi restart does; persistent state stays. */
export function forgetVolatileState(sim: Sim): void {
  // On the timeline of every guest with an operation in flight, so that a test can prove the
  // restart landed while that operation was under way (and not before or after it).
  for (const [ref, row] of sim.db.table('VM')) {
    const ops = Object.values(row.record.current_operations as Record<string, string>);
    if (ops.length > 0) recordTimeline(sim, ref, 'toolstack restarted', { detail: `in flight: ${ops.join(', ')}` });
  }
  sim.sessions.clear();
  dropAllTasks(sim);
  // The held starts were just dropped with their tasks; a restarted xapi holds nothing back.
  sim.faults.holdStartsUntilRestart = false;
  sim.faults.holdStartsOf = null;
  sim.faults.heldStarts.clear();
  for (const [ref, row] of sim.db.table('VM')) {
    if (Object.keys(row.record.current_operations as object).length > 0) sim.db.update('VM', ref, { current_operations: {} });
  }
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const scenario = resolveScenario(opts.scenario);
  const timeScale = opts.timeScale ?? scenario.time_scale ?? 1;
  if (!(timeScale > 0)) throw new Error(`time scale ${timeScale}: must be a number > 0`);
  const specs: ListenSpec[] = (opts.listen?.length ? opts.listen : ['127.0.0.1:0']).map(parseListen);
  const sim = buildSim({
    scenario,
    guests: opts.guests ?? 0,
    hosts: opts.hosts ?? 0,
    seed: opts.seed ?? scenario.seed ?? 1,
    timeScale,
    user: opts.user ?? 'root',
    password: opts.password ?? '',
    log: opts.log ?? (() => {}),
  });
  const registry = buildRegistry();
  let servers;
  try {
    servers = await startHttp(sim, registry, specs, { jsonRpc: opts.jsonRpc ?? true });
  } catch (e) {
    sim.clock.stopAll();
    throw e;
  }
  const http = servers;
  sim.restartToolstack = (downMs) =>
    http.restart(
      downMs,
      () => forgetVolatileState(sim),
      () => {
        sim.toolstackRestarts += 1;
        sim.faults.holdHardStopsUntilRestart = false;
        sim.bus.emit('toolstack-back');
      },
    );
  const tcp = http.listeners.find((l) => l.spec.kind === 'tcp');
  const unix = http.listeners.find((l) => l.spec.kind === 'unix');
  const guestCount = [...sim.db.table('VM').values()].filter((r) => !r.record.is_a_template && !r.record.is_a_snapshot && !r.record.is_control_domain).length;
  return {
    ...(tcp ? { tcpUrl: tcp.address } : {}),
    ...(unix ? { socketPath: unix.address } : {}),
    hostUuid: String(sim.db.get('host', sim.hostRef)!.uuid),
    guestCount,
    generatedMix: describeGeneratedMix((opts.guests ?? 0) + scenario.generate),
    timeScale,
    sim,
    async close() {
      sim.clock.stopAll();
      for (const t of sim.tasks.values()) t.abort.abort(new Error('simulator closed'));
      await http.close();
    },
  };
}
