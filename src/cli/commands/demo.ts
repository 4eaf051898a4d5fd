// `xen-guests demo`: one whole host boot → host shutdown cycle, for real, on the simulated host.
// The simulator and the daemon run as separate processes talking XML-RPC over loopback, exactly as
// the daemon talks to xapi; the demo only plays systemd's part (start, then SIGTERM at "power-off")
// and prints what happened.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { argsProblem } from '../format/usage.js';
import { createInterface } from 'node:readline';
import { selfCommand } from '../self.js';
// Imported, not read from disk by path: the self-contained executable carries it inside.
import demoHost from '../../../examples/demo-host.json' with { type: 'json' };


const HELP = `Usage: xen-guests demo [--scenario FILE] [--time-scale X] [--keep]

Runs one host boot and one host shutdown on the simulated XenAPI host: the simulator and the real
daemon as two processes over loopback XML-RPC. Shows the daemon's decisions as they happen, then
the boot and shutdown reports (and writes a timeline SVG).

The default scenario (examples/demo-host.json) has order groups 1-4 with readiness checks, a guest
whose clean shutdown hangs (hard-stopped after its timeout), an HVM guest without PV drivers
(hard-stopped at once), a guest asking for suspend-on-stop (refused: shut down instead), one in
maintenance (never started) and one that is not enabled.

  --scenario FILE   another simulator scenario (docs/SIMULATOR.md)
  --time-scale X    simulated guest durations × X (default 0.05: 20 s boots take 1 s)
  --keep            keep the temporary state directory (reports, snapshot) and say where it is
`;

const DEMO_CONFIG = `# The demo's host config: short timeouts so the cycle takes seconds.
[boot]
parallelism = 4
ready_timeout = 30
[shutdown]
parallelism = 8
guest_timeout = 20
deadline = 120
hard_reserve = 15
`;

const OPTIONS = { scenario: { type: 'string' }, 'time-scale': { type: 'string' }, keep: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true }));
  } catch (err) {
    process.stderr.write(`xen-guests demo: ${argsProblem(err, OPTIONS, argv)}\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const timeScale = values['time-scale'] ?? '0.05';
  if (!(Number(timeScale) > 0)) {
    process.stderr.write(`xen-guests demo: --time-scale ${timeScale}: must be a number greater than 0\n`);
    return 2;
  }
  const work = await mkdtemp(join(tmpdir(), 'xen-guests-demo-'));
  const stateDir = join(work, 'state');
  const configPath = join(work, 'config.toml');
  await writeFile(configPath, DEMO_CONFIG);
  const scenarioPath = values.scenario ?? join(work, 'demo-host.json');
  if (!values.scenario) await writeFile(scenarioPath, JSON.stringify(demoHost));
  const children: ChildProcess[] = [];
  try {
    heading('Simulated host');
    const sim = spawn(...selfCommand(['sim', '--listen', '127.0.0.1:0', '--scenario', scenarioPath, '--time-scale', timeScale]), {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(sim);
    const simLine = await firstLine(sim, 15_000);
    process.stdout.write(`  ${simLine}\n`);
    const url = /http:\/\/[\d.]+:\d+/.exec(simLine)?.[0];
    if (!url) throw new Error(`the simulator did not say where it listens: ${simLine}`);

    heading('Host boot: systemd starts xen-guests.service');
    const daemon = spawn(
      ...selfCommand(['daemon', '--config', configPath, '--xapi', url, '--state-dir', stateDir, '--on-sigterm', 'stop-guests']),
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NOTIFY_SOCKET: '', XEN_GUESTS_BOOT_ID_FILE: await fakeBootId(work) } },
    );
    children.push(daemon);
    const exited = new Promise<number | null>((r) => daemon.on('exit', (code) => r(code)));
    let sentStop = false;
    for await (const line of createInterface({ input: daemon.stdout! })) {
      const entry = parseLog(line);
      if (!entry) continue;
      process.stdout.write(formatLog(entry));
      if (!sentStop && entry.msg === 'ready; waiting for a stop') {
        sentStop = true;
        setTimeout(() => {
          heading('Host power-off: systemd sends SIGTERM (the host is going down)');
          daemon.kill('SIGTERM');
        }, 1500);
      }
    }
    const code = await exited;
    heading(`The daemon exited with code ${code}`);

    heading('xen-guests report boot');
    await runCommand(['report', 'boot', '--state-dir', stateDir]);
    heading('xen-guests report shutdown');
    const svg = join(values.keep ? work : tmpdir(), 'xen-guests-demo-shutdown.svg');
    await runCommand(['report', 'shutdown', '--state-dir', stateDir, '--svg', svg]);
    process.stdout.write(`\nTimeline picture: ${svg}\n`);
    if (values.keep) process.stdout.write(`State directory kept: ${stateDir}\n`);
    return code === 0 ? 0 : 1;
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    if (!values.keep) await rm(work, { recursive: true, force: true });
  }
}

function heading(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

async function fakeBootId(dir: string): Promise<string> {
  // A fresh boot id: this run is a host boot, whatever the machine's real boot id is.
  const path = join(dir, 'boot_id');
  await writeFile(path, crypto.randomUUID() + '\n');
  return path;
}

function firstLine(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolveLine, reject) => {
    const rl = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`no ready line from the simulator within ${timeoutMs} ms`)), timeoutMs);
    rl.once('line', (line) => {
      clearTimeout(timer);
      rl.close();
      resolveLine(line);
    });
    child.once('exit', (code) => reject(new Error(`the simulator exited with code ${code} before it was ready`)));
  });
}

interface LogEntry {
  level: number;
  time: string;
  msg: string;
}

function parseLog(line: string): LogEntry | null {
  try {
    const entry = JSON.parse(line) as LogEntry;
    return typeof entry.msg === 'string' ? entry : null;
  } catch {
    return { level: 30, time: new Date().toISOString(), msg: line };
  }
}

const LEVEL_MARK: Record<number, string> = { 40: 'warn ', 50: 'ERROR', 60: 'FATAL' };

function formatLog(entry: LogEntry): string {
  if (entry.level < 30) return '';
  const clock = entry.time.slice(11, 23);
  return `  ${clock} ${LEVEL_MARK[entry.level] ?? '     '} ${entry.msg}\n`;
}

async function runCommand(args: string[]): Promise<void> {
  const child = spawn(...selfCommand(args), { stdio: 'inherit' });
  await new Promise((r) => child.on('exit', r));
}
