// What an admin meets (issue 16), each as the real CLI process against the real simulator process:
// fail fast when nothing listens, say what is awaited on a terminal, end in the state asked for,
// name where every policy part came from, one exit code per kind of failure, messages that read
// right. Effects are checked in the toolstack with raw XML-RPC, never in the command's own output.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSim, type SimHandle } from '../helpers/sim.js';
import { runCli } from './run-cli.js';
import { runInPty } from './pty.js';

const SCENARIO = {
  guests: [
    { name_label: 'forced-on', power_state: 'Halted', other_config: { auto_poweron: 'true', 'xen-guests:on_start': 'start' } },
    { name_label: 'forced-off', power_state: 'Halted', other_config: { auto_poweron: 'false', 'xen-guests:on_start': 'ignore' } },
    { name_label: 'bad-timeout', power_state: 'Running', other_config: { 'xen-guests:shutdown_timeout': '2 minutes' } },
    { name_label: 'bad-on-start', power_state: 'Halted', other_config: { 'xen-guests:on_start': 'bogus' } },
    { name_label: 'climber', power_state: 'Halted', other_config: { auto_poweron: 'true', 'xen-guests:ready': 'vm-data/../etc' } },
    { name_label: 'fixing', power_state: 'Halted' },
    { name_label: 'tpl', is_a_template: true },
  ],
};

interface VmRecord {
  uuid: string;
  name_label: string;
  other_config: Record<string, string>;
  blocked_operations: Record<string, string>;
}

let sim: SimHandle;
let session: string;
let dir: string;
let args: string[];

async function vm(name: string): Promise<VmRecord> {
  const all = Object.values((await sim.call('VM.get_all_records', session)) as Record<string, VmRecord & { is_a_template: boolean }>);
  const found = all.filter((r) => r.name_label === name && !r.is_a_template);
  if (found.length !== 1) throw new Error(`expected one VM named ${name}`);
  return found[0]!;
}

function xg(...rest: string[]) {
  return runCli([...rest, ...args], { timeoutMs: 60_000 });
}

/** A port on loopback where nothing listens: bound once by us, then closed. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

beforeAll(async () => {
  sim = await spawnSim({ scenario: SCENARIO, timeScale: 0.01 });
  session = await sim.login();
  dir = await mkdtemp(join(tmpdir(), 'xg-admin-'));
  await writeFile(join(dir, 'config.toml'), '[boot]\nready_timeout = 30\n');
  args = ['--xapi', sim.url, '--state-dir', join(dir, 'state'), '--config', join(dir, 'config.toml')];
});

afterAll(async () => {
  await sim?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * Every command of `xen-guests --help`, with how to run it against a toolstack, or why it does not
 * reach one through reachToolstack. A command missing here fails the first test below, so a new
 * command cannot slip past the fail-fast check.
 */
const TOOLSTACK_RUNS: Record<string, string[][] | { notAToolstackCommand: string }> = {
  status: [['status']],
  plan: [['plan', 'boot'], ['plan', 'shutdown']],
  enable: [['enable', 'x']],
  disable: [['disable', 'x']],
  maintenance: [['maintenance', 'list'], ['maintenance', 'on', 'x', '--reason', 'r'], ['maintenance', 'off', 'x']],
  host: [['host', 'maintenance', 'show'], ['host', 'maintenance', 'on', '--reason', 'r'], ['host', 'maintenance', 'off']],
  'start-all': [['start-all'], ['start-all', '--dry-run']],
  'stop-all': [['stop-all'], ['stop-all', '--dry-run']],
  daemon: { notAToolstackCommand: 'waits for xapi by design (it may still be booting)' },
  demo: { notAToolstackCommand: 'runs its own embedded simulator' },
  sim: { notAToolstackCommand: 'is the simulated toolstack' },
  config: { notAToolstackCommand: 'reads the config file only' },
  report: { notAToolstackCommand: 'reads the state directory only' },
  help: { notAToolstackCommand: 'prints help; its guest-name completion asks with a 2 s bound' },
};

describe('1: reaching the toolstack', () => {
  it('every command that --help lists is classified above', async () => {
    const r = await runCli(['--help']);
    const listed = [...r.stdout.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]!);
    expect(listed.length).toBeGreaterThan(5);
    expect(listed.sort()).toEqual(Object.keys(TOOLSTACK_RUNS).sort());
  });

  const runs = Object.values(TOOLSTACK_RUNS).flatMap((v) => (Array.isArray(v) ? v : []));
  // The bound of these runs (15 s) is far below the 60 s call timeout the commands used to sit out.
  it.each(runs.map((command) => [command.join(' '), command] as const))(
    '%s gives up at once when nothing listens on the TCP port (ECONNREFUSED), naming the endpoint and --wait; --json says ok: false',
    async (_, command) => {
      const url = `http://127.0.0.1:${await deadPort()}`;
      // --wait 0 is the default, given so that a command without --wait fails here (exit 2).
      const r = await runCli([...command, '--wait', '0', '--json', '--xapi', url, '--state-dir', join(dir, 'unused')], { timeoutMs: 15_000 });
      expect(r.code).toBe(1);
      const reason = `cannot reach the toolstack at ${url}: nothing listens (ECONNREFUSED)`;
      expect(r.stderr).toContain(reason);
      expect(r.stderr).toContain('--wait SECONDS');
      const out = JSON.parse(r.stdout) as { command: string; ok: boolean; errors: string[] };
      expect(out).toMatchObject({ ok: false, errors: [expect.stringContaining(reason)] });
      expect(command.join(' ').startsWith(out.command)).toBe(true);
    },
  );

  it('the same for a Unix socket that does not exist (ENOENT), and --json still prints errors[]', async () => {
    const socket = join(dir, 'no-xapi.sock');
    const r = await runCli(['enable', 'web', '--json', '--xapi', `unix:${socket}`], { timeoutMs: 15_000 });
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { command: string; errors: string[] };
    expect(out.command).toBe('enable');
    expect(out.errors).toEqual([expect.stringContaining(`cannot reach the toolstack at unix:${socket}: nothing listens (ENOENT)`)]);
  });

  it('--wait SECONDS waits for a toolstack that comes up later, saying so on a terminal', async () => {
    const socket = join(dir, 'late-xapi.sock');
    const run = runInPty(['status', '--wait', '60', '--xapi', `unix:${socket}`, '--state-dir', join(dir, 'late')]);
    await run.waitFor(new RegExp(`waiting for the toolstack at unix:${socket} \\(up to 60 s, --wait\\)`));
    const late = await spawnSim({ scenario: SCENARIO, timeScale: 0.01, args: ['--listen', `unix:${socket}`] });
    try {
      expect(await run.exited()).toBe(0);
      expect(run.output()).toContain('forced-on');
    } finally {
      await late.stop();
    }
  });

  it('on a terminal, a toolstack that accepts but does not answer is named within the notice time, not after the call timeout', async () => {
    const held: Socket[] = [];
    const mute: Server = createServer((s) => held.push(s));
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(mute.address() as { port: number }).port}`;
    const run = runInPty(['plan', 'boot', '--xapi', url, '--state-dir', join(dir, 'mute')]);
    try {
      // Bounded well below the 60 s call timeout: the notice must come before any answer could.
      await run.waitFor(new RegExp(`xen-guests plan: waiting for the toolstack at ${url.replace(/[.]/g, '\\.')} to answer… \\(Ctrl-C to give up\\)`), 20_000);
    } finally {
      run.child.kill('SIGTERM');
      for (const s of held) s.destroy();
      mute.close();
    }
  });

  it('--wait refuses a value that is not seconds', async () => {
    const r = await runCli(['status', '--wait', 'soon']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--wait "soon": must be a number of seconds from 0 to 86400');
  });
});

describe('2: enable / disable end in the state asked for', () => {
  it('disable on a guest whose xen-guests:on_start = start removes that key, says so, and the boot plan no longer starts it', async () => {
    const r = await xg('disable', 'forced-on');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('removed xen-guests:on_start=start, which overrode auto_poweron');
    expect(r.stdout).toMatch(/forced-on .*true → false\s+changed\s+not started/);
    const rec = await vm('forced-on');
    expect(rec.other_config['auto_poweron']).toBe('false');
    expect(rec.other_config).not.toHaveProperty('xen-guests:on_start');
    const plan = JSON.parse((await xg('plan', 'boot', '--json')).stdout) as { skipped: { guest: { name: string }; skipCode: string }[] };
    expect(plan.skipped.find((e) => e.guest.name === 'forced-on')?.skipCode).toBe('disabled');
  });

  it('enable on a guest whose xen-guests:on_start = ignore mirrors it: the key goes, the boot plan starts it', async () => {
    const r = await xg('enable', 'forced-off', '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { results: { atBoot: string; notes: string[] }[] };
    expect(out.results[0]).toMatchObject({ atBoot: 'start', notes: [expect.stringContaining('removed xen-guests:on_start=ignore')] });
    const rec = await vm('forced-off');
    expect(rec.other_config['auto_poweron']).toBe('true');
    expect(rec.other_config).not.toHaveProperty('xen-guests:on_start');
    const plan = JSON.parse((await xg('plan', 'boot', '--json')).stdout) as { groups: { entries: { guest: { name: string } }[] }[] };
    expect(plan.groups.flatMap((g) => g.entries.map((e) => e.guest.name))).toContain('forced-off');
  });

  it('when the config decides (boot.honour_auto_poweron = false), enable says what still decides and exits 1', async () => {
    const config = join(dir, 'no-honour.toml');
    await writeFile(config, '[boot]\nhonour_auto_poweron = false\n');
    const r = await runCli(['enable', 'fixing', '--xapi', sim.url, '--state-dir', join(dir, 'state'), '--config', config]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('boot.honour_auto_poweron');
    expect(r.stderr).toContain('still decides');
    expect((await vm('fixing')).other_config['auto_poweron']).toBe('true');
  });
});

describe('7: provenance of a refused per-guest value', () => {
  it('status VM names the built-in default and the refused key beside it; --json sources say the same', async () => {
    const r = await xg('status', 'bad-timeout');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('built-in default shutdown.guest_timeout = "180" (instead of xen-guests:shutdown_timeout = "2 minutes", refused)');
    expect(r.stdout).not.toContain('shutdown.guest_timeout = "2 minutes"');
    const j = JSON.parse((await xg('status', 'bad-timeout', '--json')).stdout) as {
      guests: { policy: { sources: { shutdownTimeout: { raw?: string; replaced?: { key: string; raw: string } } } } }[];
    };
    const source = j.guests[0]!.policy.sources.shutdownTimeout;
    expect(source.raw).toBe('180');
    expect(source.replaced).toEqual({ key: 'xen-guests:shutdown_timeout', raw: '2 minutes' });
  });
});

describe('8: exit codes and refusals', () => {
  it('a bad config file exits 78 (EX_CONFIG) from config check, from admin commands and from the daemon', async () => {
    const bad = join(dir, 'bad.toml');
    await writeFile(bad, '[shutdown]\ndeadline = -5\n');
    for (const command of [['config', 'check'], ['status'], ['plan', 'boot'], ['daemon', '--state-dir', join(dir, 'd78')]]) {
      const r = await runCli([...command, '--config', bad], { env: { XEN_GUESTS_RUNTIME_DIR: join(dir, 'run78'), NOTIFY_SOCKET: '' } });
      expect({ command, code: r.code }).toEqual({ command, code: 78 });
      expect(r.stdout + r.stderr).toContain('shutdown.deadline = -5');
    }
  });

  it('daemon refuses flags it does not take and a bad --log-level, without a stack trace', async () => {
    for (const [flags, reason] of [
      [['--json'], /unknown option "--json"/],
      [['--wait', '5'], /unknown option "--wait"/],
      [['--log-level', 'verbose'], /--log-level "verbose": must be one of trace, debug, info, warn, error, fatal/],
    ] as const) {
      const r = await runCli(['daemon', ...flags], { env: { XEN_GUESTS_RUNTIME_DIR: join(dir, 'run-flags') } });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(reason);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('report refuses --xapi, which it does not use', async () => {
    const r = await runCli(['report', '--xapi', sim.url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown option "--xapi"');
  });

  it('report --svg into a directory that does not exist exits 1, after a real run was recorded', async () => {
    const stateDir = join(dir, 'svg-state');
    const run = await runCli(['start-all', '--xapi', sim.url, '--state-dir', stateDir, '--config', join(dir, 'config.toml')], { timeoutMs: 90_000 });
    expect(run.stderr).not.toContain('could not record');
    const r = await runCli(['report', 'boot', '--state-dir', stateDir, '--svg', '/nonexistent/x.svg']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot write the timeline to /nonexistent/x.svg');
  });

  it('xen-guests:ready = "vm-data/../etc" is refused (named, default used)', async () => {
    const r = await xg('status', 'climber');
    expect(r.stdout).toContain('instead of xen-guests:ready = "vm-data/../etc", refused');
    const plan = await xg('plan', 'boot');
    expect(plan.stdout).toMatch(/xen-guests:ready = "vm-data\/\.\.\/etc": must be running, agent, or vm-data\/KEY/);
  });

  it('maintenance on with a new reason replaces the old one, also in our start block', async () => {
    expect((await xg('maintenance', 'on', 'fixing', '--reason', 'disk swap', '--block-start')).code).toBe(0);
    expect((await vm('fixing')).blocked_operations['start']).toBe('xen-guests maintenance: disk swap');
    const r = await xg('maintenance', 'on', 'fixing', '--reason', 'restore test');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('reason replaced (was "disk swap")');
    const rec = await vm('fixing');
    expect(rec.other_config['xen-guests:maintenance']).toBe('restore test');
    expect(rec.blocked_operations['start']).toBe('xen-guests maintenance: restore test');
    expect((await xg('maintenance', 'off', 'fixing')).code).toBe(0);
    expect((await vm('fixing')).blocked_operations).not.toHaveProperty('start');
  });
});

describe('9: messages that read right', () => {
  it('an option without its value is named plainly', async () => {
    const r = await runCli(['maintenance', 'on', 'x', '--reason']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('xen-guests maintenance: --reason needs a value (--reason VALUE)');
    expect(r.stderr).not.toContain('argument missing');
  });

  it('an unknown plan mode is said once', async () => {
    const r = await runCli(['plan', 'boto']);
    expect(r.stderr.split('\n')[0]).toBe('xen-guests plan: unknown mode "boto"; allowed: boot, shutdown');
  });

  it('status of an unknown VM prints nothing on stdout, the reason on stderr, and errors[] with --json', async () => {
    const r = await xg('status', 'nosuch');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('VM "nosuch" not found');
    const j = await xg('status', 'nosuch', '--json');
    expect(j.code).toBe(1);
    expect((JSON.parse(j.stdout) as { errors: string[] }).errors).toEqual([expect.stringContaining('VM "nosuch" not found')]);
  });

  it('a guest with an invalid on_start is skipped with that reason, not "no on_start key"', async () => {
    const plan = JSON.parse((await xg('plan', 'boot', '--json')).stdout) as { skipped: { guest: { name: string }; reason: string }[] };
    const reason = plan.skipped.find((e) => e.guest.name === 'bad-on-start')?.reason;
    expect(reason).toContain('xen-guests:on_start = "bogus" is invalid');
  });

  it('totals do not count templates, snapshots or the control domain as guests, nor does the Skipped heading', async () => {
    const records = Object.values((await sim.call('VM.get_all_records', session)) as Record<string, { is_a_template: boolean; is_a_snapshot: boolean; is_control_domain: boolean }>);
    const notGuests = records.filter((r) => r.is_a_template || r.is_a_snapshot || r.is_control_domain).length;
    expect(notGuests).toBeGreaterThan(1); // the scenario's template, the simulator's own templates, dom0
    const plan = JSON.parse((await xg('plan', 'boot', '--json')).stdout) as { totals: { guests: number; notGuests: number } };
    expect(plan.totals).toMatchObject({ guests: records.length - notGuests, notGuests });
    // The text: "Skipped (N):", then N guest rows, then one line for the VMs that are not guests.
    const lines = (await xg('plan', 'boot')).stdout.split('\n');
    const at = lines.findIndex((l) => /^Skipped \(\d+\):$/.test(l));
    const heading = Number(/\((\d+)\)/.exec(lines[at]!)![1]);
    const rows = lines.slice(at + 2).filter((l, i, all) => all.slice(0, i + 1).every((x) => x.startsWith('  ') && !x.startsWith('  and ')));
    expect(rows).toHaveLength(heading);
    expect(lines.find((l) => l.startsWith('Totals:'))).toContain(`, ${heading} skipped (plus ${notGuests} VMs that are not guests`);
  });

  it('the 8-character uuid prefix the tables show names the guest', async () => {
    const { uuid } = await vm('bad-timeout');
    const table = await xg('status');
    expect(table.stdout).toContain(uuid.slice(0, 8));
    const r = await xg('status', uuid.slice(0, 8), '--json');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { guests: { uuid: string }[] }).guests.map((g) => g.uuid)).toEqual([uuid]);
  });

  it('sim --help names only example files that exist', async () => {
    const r = await runCli(['sim', '--help']);
    const { existsSync } = await import('node:fs');
    const named = [...r.stdout.matchAll(/examples\/[\w.-]+\.json/g)].map((m) => m[0]);
    expect(named.length).toBeGreaterThan(0);
    for (const file of named) expect({ file, exists: existsSync(file) }).toEqual({ file, exists: true });
  });
});

describe('A6: every --json answer is {command, ok, …, errors[]}', () => {
  async function json(...rest: string[]) {
    const r = await xg(...rest, '--json');
    return { code: r.code, stderr: r.stderr, out: JSON.parse(r.stdout) as { command: string; ok: boolean; errors: string[] } & Record<string, unknown> };
  }

  it('a VM that is not there: maintenance on, enable and disable say ok: false, naming it, and exit 1', async () => {
    for (const [command, args] of [
      ['maintenance on', ['maintenance', 'on', 'nosuch', '--reason', 'x']],
      ['maintenance off', ['maintenance', 'off', 'nosuch']],
      ['enable', ['enable', 'nosuch']],
      ['disable', ['disable', 'nosuch']],
    ] as const) {
      const r = await json(...args);
      expect({ command, code: r.code }).toEqual({ command, code: 1 });
      expect(r.out).toMatchObject({ command, ok: false, errors: [expect.stringContaining('VM "nosuch" not found')] });
    }
  });

  it('successes say ok: true with an empty errors[]', async () => {
    const { uuid } = await vm('fixing');
    const enabled = await json('enable', uuid);
    expect(enabled.code).toBe(0);
    expect(enabled.out).toMatchObject({ command: 'enable', ok: true, errors: [], results: [expect.objectContaining({ uuid, after: 'true' })] });
    expect((await vm('fixing')).other_config.auto_poweron).toBe('true');
    for (const [command, args] of [
      ['plan boot', ['plan', 'boot']],
      ['status', ['status']],
      ['maintenance list', ['maintenance', 'list']],
      ['start-all', ['start-all', '--dry-run']],
      ['host maintenance show', ['host', 'maintenance', 'show']],
    ] as const) {
      const r = await json(...args);
      expect({ command, code: r.code, ok: r.out.ok, errors: r.out.errors }).toEqual({ command, code: 0, ok: true, errors: [] });
      expect(r.out.command).toBe(command);
    }
  });

  it('host maintenance on/off on a XenAPI host refuse with this host\'s uuid in the xe command, on stderr and in --json', async () => {
    const hosts = Object.values((await sim.call('host.get_all_records', session)) as Record<string, { uuid: string }>);
    expect(hosts).toHaveLength(1);
    const hostUuid = hosts[0]!.uuid;
    const on = await json('host', 'maintenance', 'on', '--reason', 'x');
    expect(on.code).toBe(1);
    expect(on.stderr).toContain(`xe host-disable uuid=${hostUuid}`);
    expect(on.out).toMatchObject({ command: 'host maintenance on', ok: false, errors: [expect.stringContaining(`xe host-disable uuid=${hostUuid}`)] });
    const off = await json('host', 'maintenance', 'off');
    expect(off.code).toBe(1);
    expect(off.out).toMatchObject({ command: 'host maintenance off', ok: false, errors: [expect.stringContaining(`xe host-enable uuid=${hostUuid}`)] });
    const show = await json('host', 'maintenance', 'show');
    expect(show.out).toMatchObject({ host: hostUuid, maintenance: null });
    // Nothing changed in the toolstack: the host is still enabled.
    expect(Object.values((await sim.call('host.get_all_records', session)) as Record<string, { enabled: boolean }>).map((h) => h.enabled)).toEqual([true]);
  });
});

describe('enable / disable read the guests once, however many are named', () => {
  async function wholeTableReads(...command: string[]): Promise<number> {
    const before = ((await sim.call('sim.get_call_log', 0)) as { seq: number }[]).at(-1)?.seq ?? 0;
    const r = await xg(...command);
    expect(r.code).toBe(0);
    const calls = (await sim.call('sim.get_call_log', before)) as { method: string }[];
    return calls.filter((c) => /^VM\.get_all_records/.test(c.method)).length;
  }

  it('disable of three guests reads the whole VM table as often as disable of one', async () => {
    const one = await wholeTableReads('disable', 'climber');
    const three = await wholeTableReads('disable', 'climber', 'fixing', 'bad-timeout');
    expect(one).toBeGreaterThan(0);
    expect(three).toBe(one);
    for (const name of ['climber', 'fixing', 'bad-timeout']) expect((await vm(name)).other_config.auto_poweron).toBe('false');
  });
});

describe('A15: a hard stop the plan foresaw is as planned', () => {
  // Its own host: one guest with PV drivers, one HVM guest without (no clean path), one halted guest.
  const NOPV_SCENARIO = {
    guests: [
      { name_label: 'with-pv', power_state: 'Running' },
      { name_label: 'no-pv', domain_type: 'hvm', power_state: 'Running', behaviour: { pv: false, agent_s: 'none' } },
      { name_label: 'off', power_state: 'Halted' },
    ],
  };
  let host: SimHandle;
  let hostDir: string;

  beforeAll(async () => {
    host = await spawnSim({ scenario: NOPV_SCENARIO, timeScale: 0.01 });
    hostDir = await mkdtemp(join(tmpdir(), 'xg-nopv-'));
  });
  afterAll(async () => {
    await host?.stop();
    if (hostDir) await rm(hostDir, { recursive: true, force: true });
  });

  it('stop-all and report shutdown exit 0 when the only hard stop is a guest without PV drivers the plan marked for it', async () => {
    const hostArgs = ['--xapi', host.url, '--state-dir', join(hostDir, 'state')];
    const plan = await runCli(['plan', 'shutdown', ...hostArgs]);
    expect(plan.stdout).toMatch(/No clean shutdown possible \(hard stop at once\):\n {2}no-pv /);

    const stop = await runCli(['stop-all', ...hostArgs], { timeoutMs: 60_000 });
    expect({ code: stop.code, stderr: stop.stderr }).toEqual({ code: 0, stderr: '' });
    // What happened, from the simulator's own timeline: no-pv hard-stopped without a clean request, with-pv cleanly.
    const events = new Map(Object.values(await host.timeline()).map((vm) => [vm.name_label, vm.events.map((e) => e.event)]));
    expect(events.get('no-pv')!.some((e) => /hard/i.test(e))).toBe(true);
    expect(events.get('no-pv')!.some((e) => /clean/i.test(e))).toBe(false);
    expect(events.get('with-pv')!.some((e) => /clean/i.test(e))).toBe(true);
    const session = await host.login();
    const states = Object.values((await host.call('VM.get_all_records', session)) as Record<string, { name_label: string; power_state: string }>);
    expect(states.filter((r) => ['with-pv', 'no-pv'].includes(r.name_label)).map((r) => r.power_state)).toEqual(['Halted', 'Halted']);

    const report = await runCli(['report', 'shutdown', '--state-dir', join(hostDir, 'state')]);
    expect(report.code).toBe(0);
    expect(report.stdout).toMatch(/no-pv +[0-9a-f]{8} +hard-shutdown +! hard stop \(no clean shutdown path\)/);
    expect(report.stdout).toContain('Result: everything went as planned.');
    // One guest of this host was skipped (off, already halted); dom0 and the templates are listed, not counted.
    expect(report.stdout).toContain('\nSkipped (1):\n');
    expect(report.stdout).toContain('\n  already halted: off\n');
    const json = JSON.parse((await runCli(['report', 'shutdown', '--json', '--state-dir', join(hostDir, 'state')])).stdout) as { ok: boolean; exitCode: number; errors: string[] };
    expect(json).toMatchObject({ ok: true, exitCode: 0, errors: [] });
  });
});
