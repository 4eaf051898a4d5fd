#!/usr/bin/env node
// The real-Xen system test: boots Debian's Xen 4.17 under QEMU (TCG) with a Debian dom0 whose PID 1
// is systemd, xen-guests installed as the real unit for xl hosts, and busybox PV guests with
// policies; then powers the host off and checks, from the serial log and the reports dom0 prints,
// that guests started and stopped as their policies say.
//
//   node test/system/xen/run.mjs [--full] [--scenario NAME] [--keep]
//   (npm run test:xen [-- --full] builds dist/ first)
//
// Needs root (apt-get install of qemu-system-x86, debootstrap…; chroot). Images are cached under
// $XEN_GUESTS_XEN_WORK (default /var/tmp/xen-guests-xen) and reused across runs.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootXen } from './qemu.mjs';
import { SCENARIOS } from './scenarios.mjs';
import { createStage, packInitrd, stageProject } from './stage.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../../..');
const W = process.env.XEN_GUESTS_XEN_WORK ?? '/var/tmp/xen-guests-xen';

function parseArgs(argv) {
  const opts = { scenario: 'default', replay: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--full') opts.scenario = 'full';
    else if (a === '--replay') opts.replay = argv[++i] ?? '';
    else if (a === '--scenario') opts.scenario = argv[++i] ?? '';
    else if (a === '--help' || a === '-h') {
      console.log(`usage: run.mjs [--full] [--scenario ${Object.keys(SCENARIOS).join('|')}] [--replay SERIAL_LOG]
  --replay: check a serial.log of an earlier run again (no build, no QEMU)`);
      process.exit(0);
    } else {
      console.error(`run.mjs: unknown argument ${JSON.stringify(a)}; allowed: --full, --scenario NAME, --replay FILE, --help`);
      process.exit(2);
    }
  }
  if (!SCENARIOS[opts.scenario]) {
    console.error(`run.mjs: unknown scenario ${JSON.stringify(opts.scenario)}; allowed: ${Object.keys(SCENARIOS).join(', ')}`);
    process.exit(2);
  }
  return opts;
}

function runBuild() {
  return new Promise((resolve, reject) => {
    const p = spawn('bash', [path.join(HERE, 'build-base.sh')], { env: { ...process.env, W }, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (d) => {
      tail = (tail + d.toString()).slice(-4000);
      for (const l of d.toString().split('\n')) if (l.startsWith('build-base:')) console.log(`  ${l}`);
    };
    p.stdout.on('data', keep);
    p.stderr.on('data', keep);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`build-base.sh failed (exit ${code}):\n${tail}`))));
  });
}

const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(0)}s`;
const opts = parseArgs(process.argv.slice(2));
const scenario = SCENARIOS[opts.scenario];

const LEVELS = { 40: 'WARN ', 50: 'ERROR ', 60: 'FATAL ' };

/** The daemon logs JSON lines to the journal; show a person the message, not the envelope. */
function readable(text) {
  const m = /node\[\d+\]: (\{.*\})\s*$/.exec(text);
  if (!m) return text;
  try {
    const j = JSON.parse(m[1]);
    return `xen-guests: ${LEVELS[j.level] ?? ''}${j.msg}`;
  } catch {
    return text;
  }
}

/** Keep the newest runs' serial logs, drop older ones. */
function pruneRuns(dir, keep = 10) {
  const runs = existsSync(dir) ? readdirSync(dir).sort() : [];
  for (const r of runs.slice(0, Math.max(0, runs.length - keep))) rmSync(path.join(dir, r), { recursive: true, force: true });
}

function report(result, label) {
  console.log('');
  for (const line of result.story) console.log(line);
  console.log('');
  for (const c of result.checks) console.log(`${c.ok ? 'PASS' : 'FAIL'}: ${c.name}${c.detail ? ` — ${c.detail}` : ''}`);
  const failed = result.checks.filter((c) => !c.ok).length;
  console.log(label);
  console.log(`${result.checks.length - failed} passed, ${failed} failed`);
  return failed === 0 && result.checks.length > 0 ? 0 : 1;
}

if (opts.replay) {
  const lines = readFileSync(opts.replay, 'utf8')
    .split('\n')
    .map((raw) => /^\[\s*([\d.]+)\] (.*)$/.exec(raw))
    .filter((m) => m)
    .map((m) => ({ t: Number(m[1]), text: m[2] }));
  scenario.stage(createStage(path.join(W, 'stage-replay')), { repo: REPO, here: HERE });
  const code = report(scenario.check(lines, { timedOut: false, runDir: path.dirname(opts.replay) }), `replayed ${opts.replay}`);
  process.exit(code);
}

if (process.getuid?.() !== 0) {
  console.error('run.mjs: needs root (installs qemu/debootstrap with apt-get, builds the dom0 root with chroot)');
  process.exit(2);
}

console.log(`== xen system test, scenario "${opts.scenario}": ${scenario.title}`);
console.log(`== building images (cached under ${W})`);
await runBuild();
console.log(`   images ready (${since()})`);

pruneRuns(path.join(W, 'runs'));
const runDir = path.join(W, 'runs', new Date().toISOString().replace(/[:.]/g, '-'));
mkdirSync(runDir, { recursive: true });
const stage = createStage(path.join(W, 'stage'));
stageProject(stage, REPO);
stage.copy(path.join(W, 'out/vmlinux'), 'var/lib/xen-test/vmlinux');
stage.copy(path.join(W, 'out/domu.cpio.gz'), 'var/lib/xen-test/domu.cpio.gz');
scenario.stage(stage, { repo: REPO, here: HERE });
const initrd = path.join(W, 'out/dom0-run.cpio');
packInitrd(stage, path.join(W, 'out/base.cpio'), initrd);
console.log(`   dom0 packed with the project (${since()})`);

console.log(`== booting Xen + dom0 under QEMU (TCG); serial log: ${runDir}/serial.log`);
const boot = await bootXen({
  out: path.join(W, 'out'),
  initrd,
  logFile: path.join(runDir, 'serial.log'),
  timeoutSec: scenario.timeoutSec,
  onLine: (l) => {
    if (scenario.showLive(l.text)) console.log(`  [${l.t.toFixed(1).padStart(6)}] ${readable(l.text)}`);
  },
});
copyFileSync(path.join(runDir, 'serial.log'), path.join(W, 'last-serial.log'));
console.log(`   QEMU ended after ${boot.seconds.toFixed(1)} s${boot.timedOut ? ' (KILLED at the timeout)' : ''}`);

const result = scenario.check(boot.lines, { timedOut: boot.timedOut, runDir });
writeFileSync(path.join(runDir, 'result.json'), JSON.stringify(result, null, 2));
process.exit(report(result, `xen system test (${opts.scenario}) took ${since()}; serial log ${runDir}/serial.log`));
