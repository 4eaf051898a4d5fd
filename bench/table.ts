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

/** The protocol is named only when it is not the default (older result files have none). */
export function label(r: Pick<RunResult, 'strategy' | 'protocol'>): string {
  const name = LABEL[r.strategy] ?? r.strategy;
  return r.protocol && r.protocol !== 'xml-rpc' ? `${name} (${r.protocol})` : name;
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => pad(c, widths[i]!, i > 0)).join('  ');
}

export function formatRuns(runs: RunResult[]): string {
  const head = ['strategy', 'makespan s', 'bound s', 'ratio', 'obs. ratio', 'pre ms', 'hard', 'needless', 'left on', 'out of order', 'calls/guest', 'cpu ms/guest', 'peak MB', 'scale'];
  const widths = [22, 10, 8, 6, 10, 6, 5, 8, 7, 12, 11, 12, 7, 6];
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
  const atLargest = ours.filter((r) => r.guests === largest);
  const targets: Target[] = [];
  const tag = (r: RunResult): string => (r.protocol && r.protocol !== 'xml-rpc' ? ` (${r.protocol})` : '');
  for (const r of atLargest) {
    targets.push({
      name: `makespan, ${r.mode}, ${largest} guests${tag(r)}`,
      target: '≤ 1.05 × bound',
      measured: `${r.ratio.toFixed(3)} × bound from the facts, ${r.observedRatio.toFixed(3)} × bound from the guests' observed durations`,
      met: r.ratio <= 1.05,
    });
  }
  for (const r of ours) {
    targets.push({ name: `XenAPI calls per guest, ${r.mode}, ${r.guests} guests${tag(r)}`, target: '≤ 4', measured: r.calls.perGuest.toFixed(2), met: r.calls.perGuest <= 4 });
  }
  for (const r of atLargest) {
    targets.push({ name: `peak RSS, ${r.mode}, ${largest} guests${tag(r)}`, target: '≤ 80 MB', measured: `${r.cost.peakRssMb.toFixed(1)} MB`, met: r.cost.peakRssMb <= 80 });
    targets.push({ name: `CPU per guest, ${r.mode}, ${largest} guests${tag(r)}`, target: '≤ 1 ms', measured: `${r.cost.cpuMsPerGuest.toFixed(2)} ms`, met: r.cost.cpuMsPerGuest <= 1 });
  }
  // What each strategy's design implies about the outcome (once in npm test; they depend on timing under load, so they live here).
  for (const r of res.runs) {
    const expected = designedOutcome(r);
    if (expected) targets.push({ name: `outcome as designed, ${LABEL[r.strategy] ?? r.strategy} ${r.mode}, ${r.guests} guests${tag(r)}`, ...expected });
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
  lines.push(formatRuns(res.runs));
  lines.push(`plan time: ${res.planTime.map((p) => `${p.guests} guests ${p.mode}: median ${p.medianMs} ms, first ${p.coldMs} ms`).join('; ')}`);
  const r = res.ready;
  lines.push(
    `daemon start-to-READY (${r.guests} guests, nothing to start): first start ${median(r.firstMs)} ms, restart in the same boot ${median(r.restartMs)} ms (node -e 0: ${median(r.nodeFloorMs)} ms)`,
  );
  lines.push('', 'targets:');
  for (const t of res.targets) lines.push(`  ${t.met ? 'met   ' : 'MISSED'}  ${t.name}: ${t.measured} (target ${t.target})`);
  return lines.join('\n') + '\n';
}
