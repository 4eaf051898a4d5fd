// Issue 14, item 3 as `xen-guests report` shows it: a guest that waited for its SR has that wait drawn
// as its own segment in the SVG timeline, naming the SR, and the text report says for which SR and
// how long. The real daemon boots against the real simulator process with an NFS SR that answers
// 30 s (scaled) into the boot; the wait's length is judged against the simulator's call log (its
// refused PBD.plug calls, the one that went through, the VM.start after it), never against the
// report's own numbers.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSim, type SimHandle } from '../helpers/sim.js';
import { BIN, makeBootIdFile, makeTempDir, spawnDaemon } from '../helpers/daemon.js';
import { runCli } from '../cli/run-cli.js';
import { parseXml, type XmlElement } from '../cli/xml-check.js';
import { simCallLog, type LoggedCall } from '../faults/harness.js';
import { firstAt, timelines } from './timeline.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

beforeAll(() => readFile(BIN).then(() => undefined));

const TIME_SCALE = 0.05;
const on = { auto_poweron: 'true' };
const READY_MSG = 'ready; waiting for a stop';
const CONFIG = `
[boot]
parallelism = 4
ready_timeout = 120
[shutdown]
guest_timeout = 20
deadline = 120
hard_reserve = 10
`;
/** The report's instants carry milliseconds and the call log whole milliseconds: one each way. */
const ROUNDING_MS = 2;

const isPlug = (c: LoggedCall) => c.method === 'PBD.plug' || c.method === 'Async.PBD.plug';

async function tempDir(): Promise<string> {
  const dir = await makeTempDir('xg-srreport-');
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The bars of one guest's row, each with the text of its <title>. */
function barsOf(elements: XmlElement[], uuid: string): { kind: string; from: number; to: number; title: string }[] {
  const start = elements.findIndex((e) => e.name === 'g' && e.attributes['data-uuid'] === uuid);
  expect(start, `a row for ${uuid}`).toBeGreaterThanOrEqual(0);
  const end = elements.findIndex((e, i) => i > start && e.name === 'g');
  const row = elements.slice(start, end === -1 ? undefined : end);
  return row.flatMap((e, i) =>
    e.name === 'rect' && e.attributes.class?.startsWith('bar ')
      ? [{ kind: e.attributes.class.slice(4), from: Date.parse(e.attributes['data-from']!), to: Date.parse(e.attributes['data-to']!), title: row[i + 1]?.text ?? '' }]
      : [],
  );
}

describe('report: a wait for storage', () => {
  it('is its own SVG segment naming the SR, and the text says how long, as long as the simulator saw it', async () => {
    const s: SimHandle = await spawnSim({
      timeScale: TIME_SCALE,
      scenario: {
        templates: 0,
        snapshot: false,
        hosts: [{ name_label: 'host-a', memory_mib: 262144 }],
        srs: [
          { name_label: 'nfs-vms', type: 'nfs', shared: true, plugged: false, available: false },
          { name_label: 'local', type: 'lvm', shared: false },
        ],
        guests: [
          { name_label: 'app-nfs', order: 1, other_config: on, disks: ['nfs-vms'] },
          { name_label: 'local-only', order: 1, other_config: on, disks: ['local'] },
        ],
      },
    });
    cleanups.push(() => s.stop());
    const dir = await tempDir();
    const stateDir = join(dir, 'state');
    const d = await spawnDaemon({ xapi: s.url, stateDir, configToml: CONFIG, onSigterm: 'leave-guests', bootIdFile: await makeBootIdFile(dir) });
    cleanups.push(() => d.stop());
    await d.waitForLog((l) => String(l.msg).includes("SR 'nfs-vms' not plugged on this host"), 60_000);
    // The NFS server answers 30 simulated seconds from now.
    await s.call('sim.set_sr_available', 'nfs-vms', true, 30);
    await d.waitForLog((l) => l.msg === READY_MSG, 120_000);

    // What the simulator saw: plugs refused while the target was down, then one that went through,
    // and app-nfs asked to start only after it.
    const log = await simCallLog(s);
    const plugs = log.filter(isPlug);
    const plugged = plugs.find((c) => c.outcome === 'ok');
    expect(plugged, 'a PBD.plug that went through').toBeDefined();
    const refused = plugs.filter((c) => c.seq < plugged!.seq);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((c) => c.outcome.startsWith('SR_BACKEND_FAILURE'))).toBe(true);
    const t = await timelines(s);
    const appNfs = t.get('app-nfs')!;
    const startRequested = firstAt(appNfs, 'start requested')!;
    expect(startRequested).toBeGreaterThan(plugged!.t_ms);
    // The wait began after the engine read which SRs the guest's disks are on, and before its first
    // plug reached the simulator; it ended after the plug that went through, before the start.
    const firstStorageRead = log.find((c) => c.method === 'VBD.get_all_records_where')!.t_ms;
    const atLeast = plugged!.t_ms - refused[0]!.t_ms - ROUNDING_MS;
    const atMost = startRequested - firstStorageRead + ROUNDING_MS;

    const svgPath = join(dir, 'boot.svg');
    const report = await runCli(['report', 'boot', '--state-dir', stateDir, '--svg', svgPath]);
    expect(report.code, report.stderr).toBe(0);
    const elements = parseXml(await readFile(svgPath, 'utf8'));
    const bars = barsOf(elements, appNfs.uuid);
    expect(bars.map((b) => b.kind)).toEqual(['storage', 'start', 'ready']);
    const [wait, start] = bars;
    expect(wait!.to - wait!.from).toBeGreaterThanOrEqual(atLeast);
    expect(wait!.to - wait!.from).toBeLessThanOrEqual(atMost);
    // The start is drawn from the end of the wait, not over it.
    expect(start!.from).toBe(wait!.to);
    expect(wait!.title).toMatch(/^app-nfs: waited [0-9.]+s for SR 'nfs-vms' to be plugged on this host, then plugged$/);
    // The SR's name is written on the picture, not only in a tooltip.
    expect(elements.some((e) => e.name === 'text' && e.attributes.class === 'sr' && e.text === "SR 'nfs-vms'")).toBe(true);
    expect(elements.filter((e) => e.name === 'text' && e.attributes.class === 'sr')).toHaveLength(1);
    expect(elements.some((e) => e.name === 'text' && e.text.startsWith('waiting for its SR'))).toBe(true);
    // The guest on local storage waited for nothing.
    expect(barsOf(elements, t.get('local-only')!.uuid).map((b) => b.kind)).toEqual(['start', 'ready']);

    // The text: an SR WAIT column and a line naming the SR, both within the simulator's bounds
    // (printed to a tenth of a second).
    const seconds = (text: string) => Number(text.replace(/s$/, '')) * 1000;
    const row = report.stdout.split('\n').find((l) => /^\s*1\s+app-nfs\s/.test(l))!;
    const header = report.stdout.split('\n').find((l) => l.includes('SR WAIT'))!;
    expect(header).toMatch(/ENDED BY +SR WAIT +START +READY +TOTAL/);
    const srWait = seconds(row.trim().split(/\s+/).at(-4)!);
    expect(srWait).toBeGreaterThanOrEqual(atLeast - 50);
    expect(srWait).toBeLessThanOrEqual(atMost + 50);
    const line = /app-nfs \([0-9a-f-]+\): SR 'nfs-vms' not plugged on this host at \S+; plugged after ([0-9.]+s)/.exec(report.stdout);
    expect(line, report.stdout).not.toBeNull();
    expect(seconds(line![1]!)).toBe(srWait);
    expect(report.stdout.split('\n').find((l) => /^\s*1\s+local-only\s/.test(l))).toMatch(/started and ready +- +/);
  });
});
