// The xl backend against a fake plain-Xen host: real xenstore wire protocol over a Unix socket, a
// real `xl` child process (fake-xl.mjs), real config files and state directory in a temp dir.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../../../src/core/types.js';
import { pino } from 'pino';
import { silentLogger } from '../../../src/log.js';
import { MessageType } from '../../../src/xenstore/wire.js';
import { createXlToolstack } from '../../../src/toolstack/xl.js';
import { parseXlConfig } from '../../../src/toolstack/xl/guest-configs.js';
import { parseXlList } from '../../../src/toolstack/xl/command.js';
import { stableUuid } from '../../../src/toolstack/xl/guest-record.js';
import { ToolstackError, type Guest, type Toolstack } from '../../../src/toolstack/types.js';
import { startFakeXenHost, type FakeXenHost } from './fake-xen-host.js';
import { monotonicNow } from '../../../src/core/clock.js';

let host: FakeXenHost;
let ts: Toolstack;

function makeToolstack(guests: Config['guests'] = {}): Toolstack {
  return createXlToolstack({ ...host.wiring, guestTables: guests, log: silentLogger(), reapGraceMs: 50 });
}

const soon = (ms = 10_000) => ({ deadline: monotonicNow() + ms });

async function byName(name: string): Promise<Guest> {
  const g = (await ts.guests()).find((x) => x.name === name);
  if (!g) throw new Error(`guest ${name} not listed`);
  return g;
}

beforeEach(async () => {
  host = await startFakeXenHost();
});
afterEach(async () => {
  await ts?.close();
  await host.close();
});

describe('xl backend: the guest list', () => {
  it('lists dom0, running domains and halted guests from /etc/xen/auto and the config tables', async () => {
    await host.addConfig('web', { auto: true });
    await host.addConfig('db'); // /etc/xen/db.cfg, named by a [guests."db"] table
    await host.addConfig('stray'); // a file nobody names: not a guest of ours
    host.runDomain('legacy', 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee');
    ts = makeToolstack({ db: { order: '2' } });
    const guests = await ts.guests();
    const names = guests.map((g) => g.name).sort();
    expect(names).toEqual(['Domain-0', 'db', 'legacy', 'web']);
    const dom0 = guests.find((g) => g.name === 'Domain-0')!;
    expect(dom0.isControlDomain).toBe(true);
    expect(dom0.cleanShutdown.able).toBe(false);
    const web = guests.find((g) => g.name === 'web')!;
    expect(web.powerState).toBe('Halted');
    expect(web.otherConfig).toEqual({ auto_poweron: 'true' });
    expect(web.uuid).toBe(stableUuid('web'));
    expect(web.ref).toBe('web');
    const db = guests.find((g) => g.name === 'db')!;
    expect(db.otherConfig).toEqual({});
    expect(db.memoryRequired).toBe(128 * 1024 * 1024);
    const legacy = guests.find((g) => g.name === 'legacy')!;
    expect(legacy.powerState).toBe('Running');
    expect(legacy.uuid).toBe('aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee');
    expect(legacy.cleanShutdown).toEqual({ able: true, reason: 'guest advertises control/feature-poweroff' });
    expect(legacy.tools.features).toEqual(['poweroff']);
    expect(legacy.residentOn).toBe((await ts.host()).uuid);
  });

  it('uses the uuid a config file sets, and derives a stable one from the name otherwise', async () => {
    await host.addConfig('fixed', { auto: true, uuid: '01234567-89ab-4def-8123-456789abcdef' });
    await host.addConfig('derived', { auto: true });
    ts = makeToolstack();
    expect((await byName('fixed')).uuid).toBe('01234567-89ab-4def-8123-456789abcdef');
    expect((await byName('derived')).uuid).toBe(stableUuid('derived'));
    expect(stableUuid('derived')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(stableUuid('derived')).not.toBe(stableUuid('Derived'));
  });

  it('skips a config without a name and ignores editor leftovers, keeping the other guests', async () => {
    await writeFile(path.join(host.autoDir, 'broken'), 'memory = 128\n');
    await writeFile(path.join(host.autoDir, 'web~'), 'name = "web-backup"\n');
    await host.addConfig('ok', { auto: true });
    ts = makeToolstack();
    const names = (await ts.guests()).map((g) => g.name).sort();
    expect(names).toEqual(['Domain-0', 'ok']);
  });

  it('reports a paused domain as Paused (from xl list) and a pending request as an operation in flight', async () => {
    host.runDomain('busy', 'aaaaaaaa-bbbb-4ccc-8ddd-000000000001');
    host.xsd.write(`/local/domain/${host.domidOf('busy')}/control/shutdown`, 'poweroff');
    ts = makeToolstack();
    const g = await byName('busy');
    expect(g.currentOperations).toEqual({ 'xenstore:control/shutdown': 'clean_shutdown' });
  });
});

describe('xl backend: start and readiness', () => {
  it('starts with xl create, keeping the identity, and waits for a data/ key by watch', async () => {
    await host.addConfig('app', { auto: true });
    host.behaviours.set('app', { readyKey: 'ready', readyMs: 50 });
    ts = makeToolstack();
    const before = await byName('app');
    await ts.start(before, soon());
    const create = host.calls.find((c) => c.args[0] === 'create')!;
    expect(create.args).toEqual(['create', path.join(host.autoDir, 'app'), `uuid="${before.uuid}"`]);
    const ready = await ts.waitFor(before.uuid, (g) => g.powerState === 'Running' && g.xenstoreData['vm-data/ready'] === '1', soon());
    expect(ready).not.toBe('timeout');
    expect((ready as Guest).uuid).toBe(before.uuid);
    expect((ready as Guest).powerState).toBe('Running');
  });

  it('fails a start that xl refuses with XL_CREATE_FAILED naming the guest and what xl said', async () => {
    await host.addConfig('bad', { auto: true });
    host.behaviours.set('bad', { failCreate: 'cannot allocate memory for domain' });
    ts = makeToolstack();
    const err = await ts.start(await byName('bad'), soon()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolstackError);
    expect((err as ToolstackError).code).toBe('XL_CREATE_FAILED');
    expect((err as ToolstackError).meaning).toBe('refused');
    expect((err as ToolstackError).params).toEqual(['bad', 'libxl: error: cannot allocate memory for domain']);
  });

  it('refuses to start a running guest (wrong state), a guest without config, and a blocked guest', async () => {
    await host.addConfig('up', { auto: true });
    await host.addConfig('locked', { auto: true });
    host.runDomain('up', stableUuid('up'));
    host.runDomain('orphan', 'aaaaaaaa-bbbb-4ccc-8ddd-000000000002');
    ts = makeToolstack();
    await expect(ts.start(await byName('up'), soon())).rejects.toMatchObject({ meaning: 'wrong-state', code: 'XL_ALREADY_RUNNING' });
    await expect(ts.start(await byName('orphan'), soon())).rejects.toMatchObject({ meaning: 'refused', code: 'XL_NO_CONFIG' });
    const locked = await byName('locked');
    await ts.setBlockedOperation(locked, 'start', 'disk being copied');
    await expect(ts.start(locked, soon())).rejects.toMatchObject({ meaning: 'refused', code: 'XL_START_BLOCKED', params: ['locked', 'disk being copied'] });
    expect(host.calls.filter((c) => c.args[0] === 'create')).toHaveLength(0);
  });

  it('times out a readiness wait at its deadline, and ends it early when aborted', async () => {
    await host.addConfig('slow', { auto: true });
    ts = makeToolstack();
    const g = await byName('slow');
    await ts.start(g, soon());
    const t0 = monotonicNow();
    expect(await ts.waitFor(g.uuid, (x) => x.xenstoreData['vm-data/never'] !== undefined, { deadline: monotonicNow() + 200 })).toBe('timeout');
    expect(monotonicNow() - t0).toBeGreaterThanOrEqual(150);
    const ac = new AbortController();
    const pending = ts.waitFor(g.uuid, () => false, { deadline: monotonicNow() + 60_000, signal: ac.signal });
    ac.abort();
    expect(await pending).toBe('timeout');
    expect(await ts.waitFor('00000000-1111-4222-8333-444444444444', () => true, soon())).toBe('gone');
  });
});

describe('xl backend: shutdown', () => {
  it('treats the guest taking the request as not done; done only when the domain is gone', async () => {
    await host.addConfig('clean', { auto: true });
    host.behaviours.set('clean', { shutdownMs: 300 });
    ts = makeToolstack();
    await ts.start(await byName('clean'), soon());
    const g = await byName('clean');
    const domid = host.domidOf('clean')!;
    // What done saw when it settled: the guest had taken the request (cleared the key), and was it gone?
    const handle = await ts.requestCleanShutdown(g);
    expect(host.xsd.received.length).toBeGreaterThan(0);
    const atDone = await handle.done.then(() => ({ key: host.xsd.tree.get(`/local/domain/${domid}/control/shutdown`), domid: host.domidOf('clean') }));
    expect(atDone.domid).toBeNull();
    expect(atDone.key ?? '').toBe('');
    expect((await byName('clean')).powerState).toBe('Halted');
  });

  it('never settles a hung guest by itself; cancel rejects done, and a hard stop destroys it', async () => {
    await host.addConfig('hung', { auto: true });
    host.behaviours.set('hung', { hang: true });
    ts = makeToolstack();
    await ts.start(await byName('hung'), soon());
    const g = await byName('hung');
    const handle = await ts.requestCleanShutdown(g);
    const outcome = await Promise.race([handle.done.then(() => 'done', () => 'rejected'), new Promise((r) => setTimeout(() => r('still waiting'), 300))]);
    expect(outcome).toBe('still waiting');
    expect(host.domidOf('hung')).not.toBeNull();
    await handle.cancel();
    await expect(handle.done).rejects.toMatchObject({ meaning: 'refused', code: 'XL_REQUEST_WITHDRAWN' });
    expect(await ts.hardShutdown(g, soon())).toBeUndefined(); // running when the plug was pulled: a hard stop
    expect(host.domidOf('hung')).toBeNull();
    expect(host.calls.filter((c) => c.args[0] === 'destroy').map((c) => c.args)).toHaveLength(1);
    const halted = await ts.waitFor(g.uuid, (x) => x.powerState === 'Halted', soon());
    expect((halted as Guest).powerState).toBe('Halted');
  });

  it('clears a request the guest has not read when cancelled', async () => {
    host.behaviours.set('deaf', { type: 'pv', featurePoweroff: true, hang: true });
    await host.addConfig('deaf', { auto: true });
    ts = makeToolstack();
    await ts.start(await byName('deaf'), soon());
    const domid = host.domidOf('deaf')!;
    host.xsd.onClientWrite = null; // the guest never reads control/shutdown
    const handle = await ts.requestCleanShutdown(await byName('deaf'));
    expect(host.xsd.tree.get(`/local/domain/${domid}/control/shutdown`)).toBe('poweroff');
    await handle.cancel();
    expect(host.xsd.tree.get(`/local/domain/${domid}/control/shutdown`)).toBe('');
    await expect(handle.done).rejects.toMatchObject({ meaning: 'refused', code: 'XL_REQUEST_WITHDRAWN' });
  });

  it('presses the ACPI power button for an HVM guest without PV drivers', async () => {
    await host.addConfig('win', { auto: true, type: 'hvm' });
    host.behaviours.set('win', { type: 'hvm', shutdownMs: 50 });
    ts = makeToolstack();
    await ts.start(await byName('win'), soon());
    const g = await byName('win');
    expect(g.cleanShutdown.able).toBe(true);
    expect(g.cleanShutdown.reason).toMatch(/ACPI power button/);
    const handle = await ts.requestCleanShutdown(g);
    await handle.done;
    expect(host.calls.some((c) => c.args[0] === 'trigger' && c.args[2] === 'power')).toBe(true);
    expect(host.xsd.received.some((m) => m.payload.toString('latin1').includes('control/shutdown\0poweroff'))).toBe(false);
  });

  it('reaps a domain that shut down but lingers without its xl monitor', async () => {
    await host.addConfig('ghost', { auto: true });
    host.behaviours.set('ghost', { linger: true, shutdownMs: 20 });
    ts = makeToolstack();
    await ts.start(await byName('ghost'), soon());
    const handle = await ts.requestCleanShutdown(await byName('ghost'));
    await handle.done;
    expect(host.domidOf('ghost')).toBeNull();
    expect(host.calls.some((c) => c.args[0] === 'destroy')).toBe(true);
  });

  it('answers already-halted to a hard stop of a guest that is not running, and wrong-state to a clean request', async () => {
    await host.addConfig('gone', { auto: true });
    ts = makeToolstack();
    const g = await byName('gone');
    expect(await ts.hardShutdown(g, soon())).toBe('already-halted');
    await expect(ts.requestCleanShutdown(g)).rejects.toMatchObject({ meaning: 'wrong-state', code: 'XL_NOT_RUNNING' });
    expect(host.calls.filter((c) => c.args[0] === 'destroy')).toHaveLength(0);
  });
});

describe('xl backend: its own passing failures', () => {
  it('asks xenstored again when it did not answer in time, and the listing goes through', async () => {
    await host.addConfig('web', { auto: true });
    host.runDomain('web', stableUuid('web'));
    host.xsd.stall.add(MessageType.DIRECTORY); // xenstored stops answering directory listings
    const retried: string[] = [];
    // The backend says it will try again: that is when xenstored is made to answer again.
    const log = pino({ level: 'warn' }, { write: (line: string) => {
      const msg = String(JSON.parse(line).msg);
      retried.push(msg);
      if (/trying again/.test(msg)) host.xsd.stall.clear();
    } });
    ts = createXlToolstack({ ...host.wiring, guestTables: {}, log, xenstoreTimeoutMs: 300 });
    const names = (await ts.guests()).map((g) => g.name).sort();
    expect(names).toEqual(['Domain-0', 'web']);
    expect(retried.some((m) => /listing the guests failed for a passing reason/.test(m))).toBe(true);
  });
});

describe('xl backend: policy keys in the state directory', () => {
  it('keeps enable/disable/maintenance keys in an overlay file that later listings apply', async () => {
    await host.addConfig('web', { auto: true });
    await host.addConfig('db');
    ts = makeToolstack({ db: {} });
    const web = await byName('web');
    const db = await byName('db');
    await ts.setOtherConfigKey(db, 'auto_poweron', 'true');
    await ts.setOtherConfigKey(web, 'xen-guests:maintenance', 'disk swap');
    await ts.removeOtherConfigKey(web, 'auto_poweron'); // disable: hides /etc/xen/auto membership
    const file = JSON.parse(await readFile(path.join(host.stateDir, 'xl-guests.json'), 'utf8'));
    expect(file.guests.web.otherConfig).toEqual({ 'xen-guests:maintenance': 'disk swap', auto_poweron: null });
    ts = makeToolstack({ db: {} });
    expect((await byName('web')).otherConfig).toEqual({ 'xen-guests:maintenance': 'disk swap' });
    expect((await byName('db')).otherConfig).toEqual({ auto_poweron: 'true' });
    await ts.removeOtherConfigKey(await byName('web'), 'xen-guests:maintenance');
    await ts.setOtherConfigKey(await byName('web'), 'auto_poweron', 'true');
    expect((await byName('web')).otherConfig).toEqual({ auto_poweron: 'true' });
  });

  it('names a corrupt overlay file and carries on without it', async () => {
    await host.addConfig('web', { auto: true });
    await writeFile(path.join(host.stateDir, 'xl-guests.json'), '{ not json');
    ts = makeToolstack();
    expect((await byName('web')).otherConfig).toEqual({ auto_poweron: 'true' });
    await expect(ts.setOtherConfigKey(await byName('web'), 'auto_poweron', 'false')).rejects.toThrow(/xl-guests\.json: not valid JSON/);
  });
});

describe('xl backend: readiness of the toolstack', () => {
  it('answers once xenstored and xl answer', async () => {
    ts = makeToolstack();
    await ts.waitUntilReady(soon());
    const h = await ts.host();
    expect(h.freeMemory).toBe(4096 * 1024 * 1024);
    expect(h.poolSize).toBe(1);
  });

  it('gives up at the deadline with the reason when xenstored is absent', async () => {
    ts = createXlToolstack({ guestTables: {}, stateDir: host.stateDir, log: silentLogger(), xenstorePath: `${host.xsd.socketPath}.none`, xlPath: host.xlPath, xenstoreTimeoutMs: 200 });
    const reasons: string[] = [];
    const err = await ts.waitUntilReady({ deadline: monotonicNow() + 1500, onWaiting: (w) => reasons.push(w) }).catch((e: unknown) => e);
    expect((err as ToolstackError).code).toBe('TOOLSTACK_NOT_READY');
    expect((err as ToolstackError).meaning).toBe('transient');
    expect((err as Error).message).toContain('.none');
    expect(reasons.length).toBeGreaterThan(0);
  });
});

describe('xl text formats', () => {
  it('parses the assignments of an xl config it needs', () => {
    expect(parseXlConfig('name = "a b"\n# name = "no"\nmemory=512 # MiB\nuuid=\'x\'\ndisk = [ "phy:/dev/vg/a,xvda,w" ]\n')).toEqual({ name: 'a b', memory: '512', uuid: 'x' });
  });

  it('parses xl list, including names with blanks and the state column', () => {
    const text = 'Name                                        ID   Mem VCPUs\tState\tTime(s)\nDomain-0                                     0  1024     2     r-----      12.3\nmy vm                                        3   128     1     --p---       0.4\n';
    expect(parseXlList(text)).toEqual([
      { name: 'Domain-0', domid: 0, memoryMiB: 1024, state: 'r-----' },
      { name: 'my vm', domid: 3, memoryMiB: 128, state: '--p---' },
    ]);
  });
});
