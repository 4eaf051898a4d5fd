// Fault matrix, area "errors": xapi error codes injected into VM.start, VM.clean_shutdown,
// VM.hard_shutdown, event.from and session.login_with_password (sim.inject_error, sim.lose_events,
// sim.set_master).

import { describe, expect } from 'vitest';
import { createServer, connect, type Socket } from 'node:net';
import { configToml, on, onCleanup, scene, timelineShows, until } from './harness.js';
import { checkInvariants, reportOf } from './invariants.js';
import { matrixArea } from './matrix.js';
import { count } from '../e2e/timeline.js';

const row = matrixArea('errors', 'errors');

const three = () => [
  { name_label: 'first', order: 1, other_config: on() },
  { name_label: 'victim', order: 2, other_config: on() },
  { name_label: 'last', order: 3, other_config: on() },
];

const startErrorHeader = (code: string, params: string[]) => ({
  title: `VM.start fails with ${code}`,
  injected: `sim.inject_error VM.start ${code} [${params.join(', ')}] on the second guest's start`,
  when: 'boot plan' as const,
});

/** Three guests booting; the next VM.start after the first guest runs answers `code` once; resolves at READY. */
async function bootWithStartError(code: string, params: string[]) {
  const s = await scene(three());
  const d = await s.start();
  await timelineShows(s, 'first', 'running');
  await s.sim.call('sim.inject_error', 'VM.start', 1, code, ...params);
  await s.ready(d);
  return { s, d };
}

function startErrorRow(id: string, code: string, params: string[], transient = false) {
  if (transient) return transientStartRow(id, code, params);
  row(
    {
      id,
      ...startErrorHeader(code, params),
      must: 'that guest reported start-failed with xapi\'s code and parameters; the others start; READY=1',
    },
    async (rec) => {
      const { s, d } = await bootWithStartError(code, params);
      const boot = await s.report('boot');
      const victim = reportOf(boot, 'victim');
      // The first guest may have taken the injection if its start had not been sent yet; either way one guest failed with it.
      const failed = boot!.guests.filter((g) => g.outcome === 'start-failed');
      expect(failed.length, JSON.stringify(boot!.guests.map((g) => [g.guest.name, g.outcome, g.errors]))).toBe(1);
      expect(failed[0]!.errors[0]).toEqual([code, ...params]);
      rec.held(`${failed[0]!.guest.name} start-failed with [${failed[0]!.errors[0]!.join(', ')}], reason "${failed[0]!.reason}"`);
      expect(boot!.totals.started).toBe(2);
      expect(boot!.exitCode).not.toBe(0);
      rec.held(`the other 2 guests started; the boot report's exit code is ${boot!.exitCode} (something failed)`);
      void victim;
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      await checkInvariants(s, rec, { shutdown: true });
    },
  );
}

startErrorRow('E1', 'HOST_NOT_ENOUGH_FREE_MEMORY', ['4294967296', '1073741824']);
startErrorRow('E2', 'OTHER_OPERATION_IN_PROGRESS', ['VM', 'OpaqueRef:x', 'clean_shutdown'], true);

/** A start xapi refuses for now (another operation holds the VM): asked again with backoff inside the ready timeout. */
function transientStartRow(id: string, code: string, params: string[]) {
  row(
    {
      id,
      ...startErrorHeader(code, params),
      must: 'a passing refusal for xapi: the start is asked again with backoff inside the ready timeout; all three guests start once; READY=1',
    },
    async (rec) => {
      const { s, d } = await bootWithStartError(code, params);
      const starts = (await s.callLog()).filter((c) => /^(Async\.)?VM\.start$/.test(c.method));
      const refused = starts.filter((c) => c.outcome !== 'ok');
      expect(refused.length, JSON.stringify(starts)).toBe(1);
      expect(starts.length).toBe(4);
      rec.held(`the simulator refused one start with ${code} and was asked ${starts.length} times for 3 guests`);
      for (const name of ['first', 'victim', 'last']) expect(count((await s.timelines()).get(name), 'running'), name).toBe(1);
      rec.held('each of the three guests is running once (the simulator\'s timeline)');
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      await checkInvariants(s, rec, { shutdown: true });
    },
  );
}
startErrorRow('E3', 'INTERNAL_ERROR', ['xenopsd: domain build failed']);

const running = () => [
  { name_label: 'r1', order: 1, power_state: 'Running', other_config: on() },
  { name_label: 'r2', order: 2, power_state: 'Running', other_config: on(), behaviour: { shutdown_s: 40 } },
  { name_label: 'r-hung', order: 3, power_state: 'Running', other_config: on({ 'xen-guests:shutdown_timeout': '3' }), behaviour: { shutdown: 'hung' } },
];

function cleanErrorRow(id: string, code: string, params: string[], times: number) {
  row(
    {
      id,
      title: `VM.clean_shutdown fails with ${code}`,
      injected: `sim.inject_error VM.clean_shutdown ${code} × ${times}, before the SIGTERM`,
      when: 'shutdown plan',
      must: 'the clean request is retried within the guest\'s clean phase; no hard stop before it ran out; all halted',
    },
    async (rec) => {
      const s = await scene(running());
      const d = await s.start();
      await s.ready(d);
      await s.sim.call('sim.inject_error', 'VM.clean_shutdown', times, code, ...params);
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      const report = await s.report('shutdown');
      if (code === 'SESSION_INVALID') {
        // The client logs in again and repeats the call: the engine never sees the error.
        const relogin = d.daemon.logs.find((l) => String(l.msg).includes('session invalid'));
        expect(relogin).toBeDefined();
        expect(report!.totals.clean).toBe(2);
        rec.held(`the client logged "${relogin!.msg}" and repeated the request; 2 clean, the hung one hard after its timeout`);
        await checkInvariants(s, rec, { shutdown: true });
        return;
      }
      const withError = report!.guests.filter((g) => g.errors.some((e) => e[0] === code));
      expect(withError.length).toBeGreaterThan(0);
      for (const g of withError) expect(['clean', 'hard-after-timeout'], g.guest.name).toContain(g.outcome);
      rec.held(`${withError.length} guest(s) got ${code}, recorded in their report (${withError.map((g) => `${g.guest.name}: ${g.outcome}`).join(', ')}), and were asked again`);
      await checkInvariants(s, rec, { shutdown: true });
    },
  );
}

cleanErrorRow('E4', 'OTHER_OPERATION_IN_PROGRESS', ['VM', 'OpaqueRef:x', 'snapshot'], 2);
cleanErrorRow('E5', 'INTERNAL_ERROR', ['xenopsd internal error'], 1);
cleanErrorRow('E6', 'SESSION_INVALID', ['OpaqueRef:gone'], 1);

row(
  {
    id: 'E7',
    title: 'VM.hard_shutdown fails once with INTERNAL_ERROR on a hung guest',
    injected: 'sim.inject_error VM.hard_shutdown INTERNAL_ERROR × 1; the hung guest reaches its hard stop',
    when: 'shutdown plan',
    must: 'the hard stop is retried inside the deadline; nothing left running',
  },
  async (rec) => {
    const s = await scene(running());
    const d = await s.start();
    await s.ready(d);
    await s.sim.call('sim.inject_error', 'VM.hard_shutdown', 1, 'INTERNAL_ERROR', 'xenopsd: domain destroy failed');
    d.daemon.signal('SIGTERM');
    const code = await s.exited(d);
    const report = await s.report('shutdown');
    expect(reportOf(report, 'r-hung')?.errors.some((e) => e[0] === 'INTERNAL_ERROR')).toBe(true);
    rec.held('the hung guest\'s hard_shutdown failed once with INTERNAL_ERROR (in its report)');
    await checkInvariants(s, rec, { shutdown: true });
    expect(code, 'exit code: 1 would mean the hung guest was left running after one failed hard_shutdown').toBe(0);
    rec.held('the hard stop was retried: exit 0, hard-after-timeout, nothing left running');
    expect(reportOf(report, 'r-hung')?.outcome).toBe('hard-after-timeout');
  },
);

row(
  {
    id: 'E8',
    title: 'event.from fails with SESSION_INVALID during readiness waits',
    injected: 'sim.inject_error event.from SESSION_INVALID × 2 while the first group waits for its agent',
    when: 'boot plan',
    must: 're-login, readiness still seen by events, the plan completes',
  },
  async (rec) => {
    const s = await scene([
      { name_label: 'agent', order: 1, other_config: on({ 'xen-guests:ready': 'agent' }), behaviour: { agent_s: 60 } },
      { name_label: 'next', order: 2, other_config: on() },
    ]);
    const d = await s.start();
    await timelineShows(s, 'agent', 'running');
    await s.sim.call('sim.inject_error', 'event.from', 2, 'SESSION_INVALID', 'OpaqueRef:old');
    await s.ready(d);
    const boot = await s.report('boot');
    expect(reportOf(boot, 'agent')?.outcome).toBe('started');
    expect(reportOf(boot, 'next')?.outcome).toBe('started');
    rec.held('the agent guest was seen ready and the next group started');
    d.daemon.signal('SIGTERM');
    expect(await s.exited(d)).toBe(0);
    await checkInvariants(s, rec, { shutdown: true });
  },
);

row(
  {
    id: 'E9',
    title: 'EVENTS_LOST during the boot plan and during the shutdown plan',
    injected: 'sim.lose_events while the first group waits for its agent, and again while guests shut down',
    when: 'boot plan',
    must: 'the daemon resyncs and neither misses a readiness nor a halt; outcome unchanged',
  },
  async (rec) => {
    const s = await scene([
      { name_label: 'agent', order: 1, other_config: on({ 'xen-guests:ready': 'agent' }), behaviour: { agent_s: 60, shutdown_s: 60 } },
      { name_label: 'next', order: 2, other_config: on(), behaviour: { shutdown_s: 60 } },
    ]);
    const d = await s.start();
    await timelineShows(s, 'agent', 'running');
    await s.sim.call('sim.lose_events');
    await s.ready(d);
    const boot = await s.report('boot');
    expect(boot!.totals.started).toBe(2);
    rec.held('boot: both started after the events were lost, the agent\'s readiness seen');
    d.daemon.signal('SIGTERM');
    await timelineShows(s, 'next', 'clean_shutdown requested');
    await s.sim.call('sim.lose_events');
    expect(await s.exited(d)).toBe(0);
    const report = await s.report('shutdown');
    expect(report!.totals.clean).toBe(2);
    rec.held('shutdown: both halted cleanly after the events were lost again');
    await checkInvariants(s, rec, { shutdown: true });
  },
);

row(
  {
    id: 'E10',
    title: 'HOST_IS_SLAVE: the pool master moved',
    injected: 'sim.set_master to a new address, then a toolstack restart so that the daemon must log in again',
    when: 'idle',
    must: 'the daemon follows the new master and the shutdown goes through it',
  },
  async (rec) => {
    const s = await scene(running().slice(0, 2));
    const d = await s.start();
    await s.ready(d);
    // The "new master": a forwarder to the same simulator that, once reached, clears the redirect.
    const target = new URL(s.sim.url);
    let reached = 0;
    const sockets = new Set<Socket>();
    const master = createServer((client) => {
      reached += 1;
      sockets.add(client);
      client.pause();
      // Reaching the new master is what makes it the master: the redirect is cleared first.
      void s.sim.call('sim.set_master', '').then(() => {
        const upstream = connect(Number(target.port), target.hostname);
        sockets.add(upstream);
        client.pipe(upstream).pipe(client);
        client.resume();
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
      });
    });
    await new Promise<void>((r) => master.listen(0, '127.0.0.1', () => r()));
    onCleanup(async () => {
      for (const so of sockets) so.destroy();
      await new Promise((r) => master.close(r));
    });
    const address = master.address() as { port: number };
    const probe = await s.sim.login();
    await s.sim.call('sim.set_master', `127.0.0.1:${address.port}`);
    await s.sim.call('sim.restart_toolstack', 10);
    // The idle daemon makes no call; it meets the restart (and the redirect) at the shutdown. Wait
    // until the restart has happened — a session taken before it is refused — so that it must.
    await until('the toolstack restarted (an old session refused)', () =>
      s.sim.call('VM.get_all', probe).then(
        () => false,
        (err: unknown) => err instanceof Error && /SESSION_INVALID/.test(err.message),
      ),
    );
    d.daemon.signal('SIGTERM');
    expect(await s.exited(d)).toBe(0);
    const followed = d.daemon.logs.find((l) => String(l.msg).includes('HOST_IS_SLAVE'));
    expect(followed).toBeDefined();
    expect(reached).toBeGreaterThan(0);
    rec.held(`logged "${followed!.msg}" and made ${reached} connection(s) to the new master`);
    await checkInvariants(s, rec, { shutdown: true });
  },
);

void until;
void count;
void configToml;
