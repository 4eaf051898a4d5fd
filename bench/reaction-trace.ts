// `node dist/bench/reaction-trace.js [--guests N] [--mode boot|shutdown] [--scale S] [--protocol P]`:
// where a reaction's time goes, hop by hop. One run of xen-guests' engine against the traced
// simulator (bench/traced-sim.ts), the child tracing its own side (bench/trace-client.ts); then,
// for every reaction of bench/reaction.ts (a slot freed or a group ended → the next request), on
// one clock (epoch ms, both processes on this machine):
//
//   event ─ host answers ─ answer read ─ engine asks ─ request sent ─ host has it
//
// * host: from the event to the host computing the event.from answer that carries it — the time
//   no poll was waiting (the client had not asked again yet), then the batch window and the scan;
// * wire+decode: from the answer computed to the client having read and decoded it;
// * engine: from the answer read to the engine calling start/stop for the next guest (applying the
//   batch, waking the waiters, the slot queue, reading the guest from the cache);
// * out: from that call to the request's end() (the client's request path);
// * in: from the request's end() to the host handling it.
// Beside them: GC pauses and event-loop delay of both processes, the host's row scans, and the
// host's own timer lateness (the yardstick of bench/reaction.ts). Prints a summary; --json FILE
// writes the rows and both traces. See BENCHMARKS.md, "Where the boot tail goes".

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ChildJob } from './child.js';
import { runChild } from './measure.js';
import { reactionBreakdown, reactionPairs } from './reaction.js';
import { hopsOf, summary, type Hops } from './reaction-hops.js';
import { startSimProcess } from './sim-process.js';
import type { Mode } from './strategies/types.js';
import type { ClientTrace } from './trace-client.js';
import type { SimTrace } from './traced-sim.js';
import type { GcPause } from './trace-clock.js';
import { makeWorkload, scenarioFor } from './workload.js';
import { PROTOCOLS, type Protocol } from '../src/xenapi/index.js';

const HOPS: (keyof Hops)[] = ['totalMs', 'noPollMs', 'answerMs', 'wireDecodeMs', 'engineMs', 'outMs', 'flushMs', 'inMs', 'clientGcMs', 'hostGcMs', 'clientInFlight', 'batchEvents', 'batchChars'];

const USAGE = 'usage: node dist/bench/reaction-trace.js [--guests N] [--mode boot|shutdown] [--scale S] [--protocol P] [--json FILE]';

/** The run's options; throws an error naming the option, its value and what is allowed. */
function parseOptions(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: { guests: { type: 'string' }, mode: { type: 'string' }, scale: { type: 'string' }, protocol: { type: 'string' }, json: { type: 'string' } },
    strict: true,
  });
  const n = Number(values.guests ?? '1000');
  const mode = (values.mode ?? 'boot') as Mode;
  const scale = Number(values.scale ?? (n >= 1000 ? '0.01' : '0.02'));
  const protocol = (values.protocol ?? 'auto') as Protocol;
  if (!Number.isInteger(n) || n < 4 || n > 5000) throw new Error(`--guests ${values.guests}: must be a whole number from 4 to 5000`);
  if (mode !== 'boot' && mode !== 'shutdown') throw new Error(`--mode ${values.mode}: must be boot or shutdown`);
  if (!(scale > 0 && scale <= 1)) throw new Error(`--scale ${values.scale}: must be a number > 0 and ≤ 1`);
  if (!PROTOCOLS.includes(protocol)) throw new Error(`--protocol ${values.protocol}: must be one of ${PROTOCOLS.join(', ')}`);
  return { n, mode, scale, protocol, json: values.json };
}

async function main(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseOptions(argv);
  } catch (err) {
    process.stderr.write(`reaction-trace: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { n, mode, scale, protocol } = options;
  const w = makeWorkload({ guests: n });
  const dir = await mkdtemp(join(tmpdir(), 'xg-reaction-trace-'));
  try {
    const simFile = join(dir, 'sim.json');
    const clientFile = join(dir, 'client.json');
    const loadBefore = loadavg()[0]!;
    const sim = await startSimProcess(scenarioFor(w, mode), scale, simFile);
    let timeline, eventFromAt;
    try {
      const job: ChildJob = { url: sim.xapiUrl, simUrl: sim.url, protocol, strategy: 'ours', mode, parallelism: w.parallelism, scale, guestTimeoutS: w.guestTimeoutS, readyTimeoutS: w.readyTimeoutS };
      await runChild(job, 15 * 60_000, { ...process.env, XG_BENCH_TRACE: clientFile });
      [timeline, eventFromAt] = await Promise.all([sim.timeline(), sim.eventFromArrivals()]);
    } finally {
      await sim.stop();
    }
    const loadAfter = loadavg()[0]!;
    const simTrace = JSON.parse(await readFile(simFile, 'utf8')) as SimTrace;
    const clientTrace = JSON.parse(await readFile(clientFile, 'utf8')) as ClientTrace;
    const uuidOf = new Map(timeline.map((t) => [t.name_label, t.uuid]));
    const rows = reactionPairs(w, mode, timeline)
      .map((p) => hopsOf(p, mode, simTrace, clientTrace, uuidOf))
      .filter((h): h is Hops => h !== null);
    const yardstick = reactionBreakdown(w, mode, timeline, eventFromAt, scale).hostTimerLate;
    const out = process.stdout;
    out.write(`${n} guests, ${mode}, scale ${scale}, ${protocol}: ${rows.length} reactions; load ${loadBefore.toFixed(2)} → ${loadAfter.toFixed(2)}\n`);
    out.write(`host timers late p50 / p99 ${yardstick.p50Ms} / ${yardstick.p99Ms} ms; event-loop delay p99 / max: client ${clientTrace.eventLoopDelay.p99Ms.toFixed(1)} / ${clientTrace.eventLoopDelay.maxMs.toFixed(1)} ms, host ${simTrace.eventLoopDelay.p99Ms.toFixed(1)} / ${simTrace.eventLoopDelay.maxMs.toFixed(1)} ms\n`);
    out.write(`host: ${simTrace.polls.length} event.from answers, CPU ${simTrace.cpuMs} ms, row scans ${simTrace.changeScans.calls} (${simTrace.changeScans.totalMs} ms, max ${simTrace.changeScans.maxMs} ms); GC: client ${sumMs(clientTrace.gc)} ms in ${clientTrace.gc.length} pauses (max ${maxMs(clientTrace.gc)}), host ${sumMs(simTrace.gc)} ms in ${simTrace.gc.length} (max ${maxMs(simTrace.gc)})\n`);
    const viaSync = rows.filter((r) => r.viaSync);
    out.write(`${viaSync.length} reactions heard of by the event cache's first full read (not an event.from answer): total ${viaSync.map((r) => r.totalMs).join(', ') || '-'} ms\n`);
    const groups = rows.filter((r) => r.kind === 'group');
    out.write(`${groups.length} group changes: total ${groups.map((r) => r.totalMs).join(', ')} ms; engine ${groups.map((r) => r.engineMs?.toFixed(0) ?? '-').join(', ')}; in ${groups.map((r) => r.inMs?.toFixed(0) ?? '-').join(', ')} ms\n`);
    const rest = summary(rows.filter((r) => !r.viaSync && r.kind === 'slot').map((r) => r.totalMs));
    out.write(`the other ${rest.count} (slot turnovers heard of by event.from): p50 ${rest.p50}, p90 ${rest.p90}, p99 ${rest.p99}, max ${rest.max} ms\n`);
    const methods = new Map<string, number>();
    for (const r of clientTrace.requests) methods.set(r.method, (methods.get(r.method) ?? 0) + 1);
    const opened = new Map<string, number>();
    for (const r of clientTrace.requests) if (r.newSocket) opened.set(r.method, (opened.get(r.method) ?? 0) + 1);
    out.write(`new connections, by the request that opened them: ${[...opened].sort((x, y) => y[1] - x[1]).map(([m, c]) => `${m} ${c}`).join(', ')}\n`);
    out.write(`client requests: ${[...methods].sort((a, b) => b[1] - a[1]).map(([m, c]) => `${m} ${c}`).join(', ')}\n`);
    // The clock check and the same hop for the event loop's own requests: event.from sent → the host has it.
    const polls = [...simTrace.polls].sort((a, b) => a.arrivedAt - b.arrivedAt);
    const fromSent = clientTrace.requests.filter((r) => r.method === 'event.from').sort((a, b) => a.sentAt - b.sentAt);
    const pollIn = summary(polls.map((p, i) => (fromSent[i] ? p.arrivedAt - fromSent[i]!.sentAt : null)));
    out.write(`event.from end() → host has it: p50 ${pollIn.p50}, p99 ${pollIn.p99}, max ${pollIn.max} ms (never < 0 if the clocks agree: min ${summary(polls.map((p, i) => (fromSent[i] ? -(p.arrivedAt - fromSent[i]!.sentAt) : null))).max * -1})\n`);
    // The loop's own turnaround: an event.from answer read → the next event.from sent (the loop polls
    // again as soon as it has applied an answer, so a long one is the client's event loop held up).
    const turnaround = fromSent.slice(1).map((r, i) => ({ at: fromSent[i]!.readAt === null ? null : fromSent[i]!.readAt! - simTrace.clockStarted, ms: fromSent[i]!.readAt === null ? null : r.sentAt - fromSent[i]!.readAt! }));
    const ta = summary(turnaround.map((t) => t.ms));
    out.write(`event.from answer read → next event.from sent: p50 ${ta.p50}, p90 ${ta.p90}, p99 ${ta.p99}, max ${ta.max} ms; longest at host ms ${[...turnaround].sort((a, b) => (b.ms ?? 0) - (a.ms ?? 0)).slice(0, 8).map((t) => `${Math.round(t.at ?? 0)} (${(t.ms ?? 0).toFixed(0)})`).join(', ')}\n`);
    out.write(`| hop | count | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|\n`);
    for (const hop of HOPS) {
      const s = summary(rows.map((r) => r[hop] as number | null));
      out.write(`| ${hop} | ${s.count} | ${s.p50} | ${s.p90} | ${s.p99} | ${s.max} |\n`);
    }
    const slowest = [...rows].sort((a, b) => b.totalMs - a.totalMs).slice(0, Math.max(3, Math.ceil(rows.length / 100)));
    out.write(`slowest ${slowest.length} (the p99 tail), ms:\n`);
    for (const r of slowest) {
      const f = (x: number | null): string => (x === null ? '-' : x.toFixed(1));
      out.write(
        `  ${r.kind} total ${f(r.totalMs)} = no poll ${f(r.noPollMs)} + answer ${f(r.answerMs)} + wire/decode ${f(r.wireDecodeMs)} + engine ${f(r.engineMs)} + out ${f(r.outMs)} + in ${f(r.inMs)} (flush ${f(r.flushMs)}); batch ${r.batchEvents} events / ${r.batchChars ?? '-'} chars; GC client ${f(r.clientGcMs)} host ${f(r.hostGcMs)}; ${r.clientInFlight} requests in flight\n`,
      );
    }
    if (options.json) writeFileSync(options.json, JSON.stringify({ guests: n, mode, scale, protocol, load: { before: loadBefore, after: loadAfter }, yardstick, rows, simTrace, clientTrace }) + '\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return 0;
}

const sumMs = (gc: GcPause[]): number => Math.round(gc.reduce((n, g) => n + g.ms, 0));
const maxMs = (gc: GcPause[]): string => gc.reduce((m, g) => Math.max(m, g.ms), 0).toFixed(1);

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`reaction-trace: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
