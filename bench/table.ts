// The terminal report and the target checks.

import type { RunResult } from './measure.js';
import type { BenchResults } from './run.js';

export interface Target {
  name: string;
  target: string;
  measured: string;
  met: boolean;
}

const LABEL: Record<string, string> = {
  ours: 'xen-guests',
  sequential: 'sequential',
  xapi: 'xapi power-off',
  proxmox: 'proxmox',
  libvirt: 'libvirt-guests',
};

/** xen-guests is named with its protocol ("auto: json-rpc" = what auto found); the peers run over the default. */
export function label(r: Pick<RunResult, 'strategy' | 'protocol'> & { wireProtocol?: string | null; learned?: boolean }): string {
  const name = LABEL[r.strategy] ?? r.strategy;
  // The second night: planned with the first run's report (longest first within a group).
  if (r.learned) return `${name} (learned)`;
  if (r.strategy !== 'ours' || !r.protocol) return name;
  return r.protocol === 'auto' && r.wireProtocol ? `${name} (auto: ${r.wireProtocol})` : `${name} (${r.protocol})`;
}

/** The first-night run over the default protocol: the row the per-run targets are judged on once. */
function isDefaultProtocol(r: RunResult): boolean {
  return r.protocol === 'auto' && !r.learned;
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => pad(c, widths[i]!, i > 0)).join('  ');
}

export function formatRuns(runs: RunResult[]): string {
  const head = ['strategy', 'makespan s', 'bound s', 'ratio', 'obs. ratio', 'pre ms', 'hard', 'needless', 'left on', 'out of order', 'calls/guest', 'cpu ms/guest', 'peak MB', 'react p50/p99 ms', 'scale'];
  const widths = [30, 10, 8, 6, 10, 6, 5, 8, 7, 12, 11, 12, 7, 16, 6];
  const lines: string[] = [];
  const keys = [...new Set(runs.map((r) => `${r.guests} ${r.mode}`))];
  for (const key of keys) {
    const [n, mode] = key.split(' ');
    const group = runs.filter((r) => `${r.guests} ${r.mode}` === key);
    lines.push('', `${n} guests, ${mode} (simulated seconds, first request → done; bound = Σ per group of max(longest, Σ slot / parallelism + shortest tail); obs. = bound from the durations the guests took in this run; pre = real ms reading + planning)`);
    lines.push(row(head, widths));
    for (const r of group) {
      const shutdown = r.mode === 'shutdown';
      lines.push(
        row(
          [
            label(r),
            r.makespanS.toFixed(1),
            r.boundS.toFixed(1),
            r.ratio.toFixed(2),
            r.observedRatio.toFixed(2),
            String(r.preMs),
            shutdown ? String(r.outcome.hard) : '-',
            shutdown ? String(r.outcome.needlessHard) : '-',
            shutdown ? String(r.outcome.leftRunning) : String(r.guests - r.outcome.done),
            String(r.outcome.outOfOrder),
            r.calls.perGuest.toFixed(2),
            r.cost.cpuMsPerGuest.toFixed(2),
            r.cost.peakRssMb.toFixed(0),
            r.reaction ? `${r.reaction.p50Ms} / ${r.reaction.p99Ms}` : '-',
            String(r.scale),
          ],
          widths,
        ),
      );
    }
  }
  return lines.join('\n') + '\n';
}

export function judgeTargets(res: BenchResults): Target[] {
  const ours = res.runs.filter((r) => r.strategy === 'ours');
  const largest = Math.max(0, ...ours.map((r) => r.guests));
  const byDefault = ours.filter(isDefaultProtocol);
  const atLargest = byDefault.filter((r) => r.guests === largest);
  const targets: Target[] = [];
  for (const r of atLargest) {
    targets.push({ name: `CPU per guest, ${r.mode}, ${largest} guests`, target: '≤ 1 ms', measured: `${r.cost.cpuMsPerGuest.toFixed(2)} ms`, met: r.cost.cpuMsPerGuest <= 1 });
    targets.push({ name: `peak RSS, ${r.mode}, ${largest} guests`, target: '≤ 100 MB', measured: `${r.cost.peakRssMb.toFixed(1)} MB`, met: r.cost.peakRssMb <= 100 });
    const xml = ours.find((x) => x.guests === largest && x.mode === r.mode && x.protocol === 'xml-rpc');
    if (xml) {
      const times = xml.cost.cpuMsPerGuest / r.cost.cpuMsPerGuest;
      targets.push({ name: `XML-RPC against JSON-RPC, CPU per guest, ${r.mode}, ${largest} guests`, target: '≤ 2 ×', measured: `${times.toFixed(2)} × (${xml.cost.cpuMsPerGuest.toFixed(2)} against ${r.cost.cpuMsPerGuest.toFixed(2)} ms)`, met: times <= 2 });
    }
  }
  for (const r of byDefault) {
    targets.push({ name: `XenAPI calls per guest, ${r.mode}, ${r.guests} guests`, target: '≤ 4', measured: r.calls.perGuest.toFixed(2), met: r.calls.perGuest <= 4 });
    if (r.reaction) {
      targets.push({ name: `reaction latency p99, ${r.mode}, ${r.guests} guests`, target: '≤ 20 ms', measured: `p99 ${r.reaction.p99Ms} ms, p50 ${r.reaction.p50Ms} ms over ${r.reaction.count} reactions`, met: r.reaction.p99Ms <= 20 });
    }
  }
  for (const r of res.slowRuns.filter((x) => x.strategy === 'ours')) {
    targets.push({ name: `makespan at scale ${r.scale}, ${r.mode}, ${r.guests} guests${r.learned ? ' (learned)' : ''}`, target: '≤ 1.05 × bound', measured: `${r.ratio.toFixed(3)} × bound (${r.observedRatio.toFixed(3)} × the observed bound)`, met: r.ratio <= 1.05 });
  }
  for (const [runs, where] of [[res.runs, ''], [res.slowRuns, ' (slow scale)']] as const) {
    for (const r of runs.filter((x) => x.strategy === 'ours' && x.protocol === 'auto')) {
      const peers = runs.filter((x) => x.strategy !== 'ours' && x.guests === r.guests && x.mode === r.mode);
      if (peers.length === 0) continue;
      // A peer that is faster only by not doing the job (hard-stopping guests that would have halted,
      // leaving guests running, ignoring the order groups) does not count as ahead.
      const didTheJob = (p: RunResult): boolean => p.outcome.needlessHard === 0 && p.outcome.leftRunning === 0 && p.outcome.outOfOrder === 0 && (p.mode === 'shutdown' || p.outcome.done === p.guests);
      const ahead = peers.filter((p) => p.ratio <= r.ratio && didTheJob(p));
      targets.push({
        name: `makespan ahead of every peer, ${r.mode}, ${r.guests} guests${where}${r.learned ? ' (learned)' : ''}`,
        target: 'ours < each peer that does the job',
        measured: `${r.ratio.toFixed(2)} × against ${peers.map((p) => `${label(p)} ${p.ratio.toFixed(2)} ×${didTheJob(p) ? '' : ' (needless hard stops, guests left running or out of order)'}`).join(', ')}`,
        met: ahead.length === 0,
      });
    }
  }
  if (res.idle) {
    for (const run of res.idle.runs) {
      // Each against its own runtime's floor: the executable is the Bun runtime with the program in it.
      const bun = run.runtime === 'executable' ? res.idle.bunBaselineMb : null;
      const base = bun ?? res.idle.nodeBaselineMb;
      const over = run.idleMb - base;
      const baseName = bun === null ? 'node' : 'bun';
      targets.push({ name: `idle RSS after booting ${run.guests} guests (${run.runtime})`, target: '≤ runtime baseline + 15 MB', measured: `${run.idleMb} MB, ${baseName} baseline ${base} MB (+${over.toFixed(1)})`, met: over <= 15 });
    }
  }
  // What each strategy's design implies about the outcome (once in npm test; they depend on timing under load, so they live here).
  for (const r of [...res.runs, ...res.slowRuns]) {
    const expected = designedOutcome(r);
    if (expected) targets.push({ name: `outcome as designed, ${label(r)} ${r.mode}, ${r.guests} guests${r.scale >= 0.1 ? ' (slow scale)' : ''}`, ...expected });
  }
  for (const p of res.planTime) {
    targets.push({ name: `plan of ${p.guests} guests, ${p.mode}`, target: '≤ 50 ms', measured: `median ${p.medianMs} ms (first ${p.coldMs} ms)`, met: p.medianMs <= 50 });
  }
  return targets;
}

function designedOutcome(r: RunResult): Omit<Target, 'name'> | null {
  const o = r.outcome;
  const counts = `left running ${o.leftRunning}, needless hard ${o.needlessHard}, out of order ${o.outOfOrder}`;
  if (r.mode === 'boot') {
    if (r.strategy === 'ours') return { target: 'every guest ready, groups kept', measured: `${o.done} of ${r.guests} ready, out of order ${o.outOfOrder}`, met: o.done === r.guests && o.outOfOrder === 0 };
    if (r.strategy === 'sequential') return { target: 'ignores VM.order', measured: `out of order ${o.outOfOrder}`, met: o.outOfOrder > 0 };
    return null;
  }
  switch (r.strategy) {
    case 'ours':
      return { target: 'nothing left running, no needless hard stop, groups kept', measured: counts, met: o.leftRunning === 0 && o.needlessHard === 0 && o.outOfOrder === 0 };
    case 'libvirt':
      return { target: 'never hard-stops, so hung and no-PV guests are left running', measured: `hard ${o.hard}, left running ${o.leftRunning}`, met: o.hard === 0 && o.leftRunning > 0 };
    case 'xapi':
      return { target: 'nothing left running (guests past its 60 s are hard-stopped)', measured: counts, met: o.leftRunning === 0 };
    default:
      return { target: 'clean then hard per guest: nothing left running, no needless hard stop', measured: counts, met: o.leftRunning === 0 && o.needlessHard === 0 };
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

export function formatReport(res: BenchResults): string {
  const m = res.machine;
  const lines = [`xen-guests benchmark (${res.profile}) — ${m.nproc} × ${m.cpuModel}, node ${m.node}, ${res.durationS} s`];
  for (const [n, w] of Object.entries(res.workloads)) {
    lines.push(`workload ${n}: ${Object.entries(w.types ?? {}).map(([t, c]) => `${c} ${t}`).join(', ')}; ${w.hung} hung; ${w.agentReady} ready by agent; groups ${w.groups.map((g) => g.guests).join('/')}`);
  }
  lines.push(formatRuns(res.runs));
  if (res.slowRuns.length) lines.push('slow time scale:', formatRuns(res.slowRuns));
  lines.push(...formatReactionBreakdown([...res.runs, ...res.slowRuns]));
  lines.push(`plan time: ${res.planTime.map((p) => `${p.guests} guests ${p.mode}: median ${p.medianMs} ms, first ${p.coldMs} ms`).join('; ')}`);
  const r = res.ready;
  lines.push(
    `daemon start-to-READY (${r.guests} guests, nothing to start): first start ${median(r.firstMs)} ms, restart in the same boot ${median(r.restartMs)} ms (node -e 0: ${median(r.nodeFloorMs)} ms)`,
  );
  if (res.idle) {
    lines.push(`idle RSS (node ${res.idle.unitNodeFlags.join(' ')}; baseline node -e 'setInterval(()=>{},1e9)': ${res.idle.nodeBaselineMb} MB; bun -e …: ${res.idle.bunBaselineMb ?? 'not installed'} MB)${res.idle.executableNotRun ? `; compiled executable not run: ${res.idle.executableNotRun}` : ''}`);
    for (const i of res.idle.runs) {
      lines.push(`  ${i.guests} guests (${i.runtime}): idle ${i.idleMb} MB (${i.idleAnonMb} anonymous, ${i.idleFileMb} file pages), peak ${i.peakMb} MB, READY after ${i.readyMs} ms (${i.cpuMsToReady} ms CPU), ${i.sessionsAtRest} XenAPI sessions at rest, SIGTERM → first stop request ${i.sigtermToFirstStopMs ?? '?'} ms, exit ${i.exitCode}`);
    }
  }
  if (res.decoders) {
    const d = res.decoders;
    lines.push(`XML-RPC decoders, VM.get_all_records of ${d.guests} guests (${(d.xmlBytes / 1e6).toFixed(1)} MB XML, ${(d.jsonBytes / 1e6).toFixed(1)} MB JSON), median CPU:`);
    for (const c of d.candidates) lines.push(`  ${c.name.padEnd(36)} ${String(c.cpuMs).padStart(8)} ms  ${c.cpuMsPerGuest.toFixed(3)} ms/guest  ${c.timesJson} × JSON.parse${c.agrees ? '' : '  (DISAGREES)'}`);
    const m = d.retained;
    lines.push(`  heap held once decoded: raw table ${m.xmlRawMb} MB over XML-RPC, ${m.jsonRawMb} MB over JSON-RPC; typed VM records ${m.xmlRecordsMb} / ${m.jsonRecordsMb} MB`);
  }
  lines.push('', 'targets:');
  for (const t of res.targets) lines.push(`  ${t.met ? 'met   ' : 'MISSED'}  ${t.name}: ${t.measured} (target ${t.target})`);
  return lines.join('\n') + '\n';
}

/** Where xen-guests' reaction time goes per run, beside the host's own timer lateness and the load. */
function formatReactionBreakdown(runs: RunResult[]): string[] {
  const lines = ['reaction p50 / p99 ms: event → next event.from at the host | that poll → request | host timer lateness (no engine) | load before → after'];
  for (const r of runs) {
    const b = r.reactionBreakdown;
    if (!b || !r.reaction) continue;
    const pair = (x: { p50Ms: number; p99Ms: number }): string => `${x.p50Ms} / ${x.p99Ms}`;
    lines.push(`  ${label(r)}, ${r.guests} guests, ${r.mode}, scale ${r.scale}: reaction ${pair(r.reaction)} = ${pair(b.eventToPoll)} | ${pair(b.pollToRequest)}; host timers ${pair(b.hostTimerLate)} (${b.hostTimerLate.count}); load ${r.load.before} → ${r.load.after}`);
  }
  return lines;
}
