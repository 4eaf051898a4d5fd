// The simulated host of `npm run bench`, with a trace of its side of every reaction, for
// bench/reaction-trace.ts (`node dist/bench/traced-sim.js TRACE_FILE --time-scale S --scenario F`).
// It is the same simulator as `xen-guests sim` (startSimulator, the same registry): only its
// event.from handler is timed, from the moment the host has the call until the answer is computed,
// beside the host's own event-loop delay, GC pauses and the CPU its change scans cost. Written to
// TRACE_FILE at SIGTERM. Times are epoch ms with fractions (performance.timeOrigin + now()), so that
// they compare with the client's trace of the same run on the same machine.

import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Registry, type MethodSpec } from '../src/sim/api/registry.js';
import { Database } from '../src/sim/model/db.js';
import { startSimulator } from '../src/sim/index.js';
import { epochNow, watchGc, type GcPause } from './trace-clock.js';

export interface SimPollTrace {
  /** The host has the call (its handler began). */
  arrivedAt: number;
  /** The answer was computed (the handler's value resolved), before it is encoded and sent. */
  answeredAt: number;
  events: number;
}

export interface SimTrace {
  /** The simulator's clock origin (its timeline's and call log's t_ms are ms after it), epoch ms. */
  clockStarted: number;
  polls: SimPollTrace[];
  /** Database.changesSince: calls and total ms (a scan of every row, run on every change while an event.from waits). */
  changeScans: { calls: number; totalMs: number; maxMs: number };
  gc: GcPause[];
  eventLoopDelay: { p50Ms: number; p99Ms: number; maxMs: number };
  cpuMs: number;
}

function traceEventFrom(spec: MethodSpec, polls: SimPollTrace[]): MethodSpec {
  return {
    ...spec,
    async run(ctx, args) {
      const arrivedAt = epochNow();
      const value = await spec.run(ctx, args);
      const events = (value as { events?: unknown[] }).events;
      polls.push({ arrivedAt, answeredAt: epochNow(), events: Array.isArray(events) ? events.length : 0 });
      return value;
    },
  };
}

async function main(argv: string[]): Promise<void> {
  const [file, ...rest] = argv;
  const opt = (name: string): string | undefined => {
    const i = rest.indexOf(name);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  if (!file) throw new Error('usage: traced-sim.js TRACE_FILE --socket PATH --time-scale S --scenario FILE');
  const polls: SimPollTrace[] = [];
  const add = Registry.prototype.add;
  Registry.prototype.add = function (this: Registry, spec: MethodSpec) {
    add.call(this, spec.name === 'event.from' ? traceEventFrom(spec, polls) : spec);
  };
  const scans = { calls: 0, totalMs: 0, maxMs: 0 };
  const changesSince = Database.prototype.changesSince;
  Database.prototype.changesSince = function (this: Database, ...args: Parameters<Database['changesSince']>) {
    const t = performance.now();
    const out = changesSince.apply(this, args);
    const ms = performance.now() - t;
    scans.calls++;
    scans.totalMs += ms;
    scans.maxMs = Math.max(scans.maxMs, ms);
    return out;
  };
  const gc: GcPause[] = [];
  watchGc(gc);
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const stopped = new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  const scale = Number(opt('--time-scale') ?? '1');
  const scenario = opt('--scenario');
  const socket = opt('--socket');
  const listen = ['127.0.0.1:0', ...(socket ? [`unix:${socket}`] : [])];
  const simulator = await startSimulator({ timeScale: scale, listen, ...(scenario ? { scenario } : {}) });
  process.stdout.write(`xen-guests sim (traced): listening on ${simulator.tcpUrl} (${simulator.guestCount} guests, time scale ${scale}) ready\n`);
  await stopped;
  delay.disable();
  const cpu = process.cpuUsage();
  const trace: SimTrace = {
    clockStarted: simulator.sim.clock.started,
    polls,
    changeScans: { calls: scans.calls, totalMs: Math.round(scans.totalMs), maxMs: Math.round(scans.maxMs * 10) / 10 },
    gc,
    eventLoopDelay: { p50Ms: delay.percentile(50) / 1e6, p99Ms: delay.percentile(99) / 1e6, maxMs: delay.max / 1e6 },
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
  };
  writeFileSync(file, JSON.stringify(trace));
  await simulator.close();
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`traced-sim: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
