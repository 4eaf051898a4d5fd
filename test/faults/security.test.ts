// Fault matrix, area "security": credentials file permissions, TLS verification by default,
// passwords never logged, XenAPI where-expressions, and no listening network port.

import { describe, expect } from 'vitest';
import { chmod, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { callLogMark, configToml, on, reloggedIn, scene, timelineShows, until, xapi } from './harness.js';
import { quoteLiteral } from '../../src/xenapi/filter.js';
import { hasOpenssl, recordingProxy, selfSignedTlsFront } from './wire.js';
import { checkInvariants } from './invariants.js';
import { matrixArea } from './matrix.js';
import { restartToolstack } from '../helpers/sim.js';

const row = matrixArea('security', 'security');
const ROOT = resolve(import.meta.dirname, '../..');
const PASSWORD = 'S3cr3t-xyzzy-Pa55w0rd';

async function passwordConfig(dir: string, password: string, mode: number): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'xapi-password');
  await writeFile(file, password + '\n');
  await chmod(file, mode);
  return configToml({ extra: '' }).replace('[xapi]', `[xapi]\nuser = "root"\npassword_file = "${file}"`);
}

/** The value literals of a where-expression (not the field names), unescaped as xapi's db_filter lexer reads them. */
function literalsOf(expression: string): string[] {
  return [...expression.matchAll(/(field\s+)?"((?:[^"\\]|\\.)*)"/gi)].filter((m) => !m[1]).map((m) => m[2]!.replace(/\\(.)/g, '$1'));
}

/** Literals that try to end the string and add a clause of their own, or to break the lexer. */
const HOSTILE = ['a "quoted" \'guest\' \\ name', '" or true or "', '\\" or true or \\"', '") or (field "power_state" = "Running', 'ends in a backslash \\', '"', '\\', 'tab\tand unicode é ✓'];

/** The daemon's listening sockets: TCP/UDP (v4, v6) in LISTEN state, and Unix sockets accepting connections, owned by `pid`. */
async function listeningSockets(pid: number): Promise<{ sockets: number; listening: string[] }> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(m[1]!);
  }
  const found: string[] = [];
  for (const table of ['tcp', 'tcp6', 'udp', 'udp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // st 0A = LISTEN (tcp); any bound udp socket listens.
      if (f.length > 9 && inodes.has(f[9]!) && (table.startsWith('udp') || f[3] === '0A')) found.push(`${table} ${f[1]}`);
    }
  }
  const unix = await readFile(`/proc/${pid}/net/unix`, 'utf8').catch(() => '');
  for (const line of unix.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // Flags 00010000 = __SO_ACCEPTCON: a listening socket.
    if (f.length > 6 && inodes.has(f[6]!) && f[3] === '00010000') found.push(`unix ${f[7] ?? ''}`);
  }
  return { sockets: inodes.size, listening: found };
}

describe('fault matrix: security', () => {
  row(
    {
      id: 'Z1',
      title: 'credentials file readable by group or others',
      injected: 'xapi.password_file with mode 0644',
      when: 'daemon start',
      must: 'refused: exit 78 naming the file, its mode and the fix; no login attempted',
    },
    async (rec) => {
      const s = await scene([{ name_label: 'web', other_config: on() }], { password: PASSWORD });
      const config = await passwordConfig(s.runtimeDir + '-creds', PASSWORD, 0o644);
      const d = await s.start({ config });
      expect(await s.exited(d)).toBe(78);
      const text = d.daemon.logs.map((l) => JSON.stringify(l)).join('\n') + d.daemon.stderr();
      expect(text).toContain('0644');
      expect(text).toContain('chmod 600');
      const line = d.daemon.logs.find((l) => l.level === 60);
      rec.held(`exit 78: "${String(line?.err ?? '').slice(0, 200)}"`);
      expect((await s.callLog()).map((c) => c.method), 'XenAPI calls in the simulator\'s log').toEqual([]);
      expect(text).not.toContain(PASSWORD);
      rec.held('no XenAPI call, the password not in any output');
    },
  );

  row(
    {
      id: 'Z2',
      title: 'passwords never logged',
      injected: 'the daemon with a password file (0600) over TCP to the simulator started with --password, at log level debug, through a boot, a toolstack restart (re-login) and a shutdown; then, after a reboot, a daemon with a wrong password',
      when: 'any time',
      must: 'after the restart the daemon logs in again by itself and its calls succeed on the new session (the simulator\'s call log, the session refs on the wire); neither password appears in any stdout or stderr line; the wrong one gives a clear error and the daemon stays up',
    },
    async (rec) => {
      const s = await scene([{ name_label: 'web', order: 1, other_config: on() }], { password: PASSWORD });
      const credsDir = s.runtimeDir + '-creds';
      const wire = await recordingProxy(s.sim.url);
      const d = await s.start({ config: await passwordConfig(credsDir, PASSWORD, 0o600), xapi: wire.url });
      await s.ready(d);
      // The toolstack restarts: every session it had is gone. The daemon must log in again by itself.
      const mark = await callLogMark(s);
      const wireMark = wire.calls().length;
      // Over before the SIGTERM (it answers before it happens), so the shutdown meets the restarted toolstack.
      await restartToolstack(s.sim.call, 50);
      // Resting after its boot plan the daemon holds no session; the host shutdown logs in anew.
      d.daemon.signal('SIGTERM');
      const relogin = await reloggedIn(s, mark);
      expect(await s.exited(d)).toBe(0);
      const after = (await s.callLog()).filter((c) => c.seq > relogin.seq);
      const okAfter = after.filter((c) => c.outcome === 'ok' && c.method !== 'session.login_with_password');
      expect(okAfter.length, 'calls that succeeded after the re-login (the simulator\'s call log)').toBeGreaterThan(0);
      const sessionsBefore = new Set(wire.calls().slice(0, wireMark).filter((c) => !c.method.startsWith('session.login')).map((c) => c.params[0]));
      const loginsOnWire = wire.calls().filter((c, i) => i >= wireMark && c.method === 'session.login_with_password');
      expect(loginsOnWire.length, 'logins the daemon sent after the restart').toBeGreaterThan(0);
      const sessionsAfter = new Set(wire.calls().slice(wire.calls().indexOf(loginsOnWire.at(-1)!) + 1).filter((c) => !c.method.startsWith('session.')).map((c) => c.params[0]));
      expect([...sessionsAfter].filter((x) => sessionsBefore.has(x)), 'old sessions used after the re-login').toEqual([]);
      expect(sessionsAfter.size, 'sessions used after the re-login').toBeGreaterThan(0);
      const refused = (await s.callLog()).filter((c) => c.seq > mark && c.outcome === 'SESSION_INVALID').length;
      rec.held(`after sim.restart_toolstack: ${refused} call(s) refused SESSION_INVALID, a new login (call log #${relogin.seq}), then ${okAfter.length} calls succeeded, all on ${sessionsAfter.size === 1 ? 'a new session' : `${sessionsAfter.size} new sessions`} (none of the ${sessionsBefore.size} from before, on the wire)`);
      await checkInvariants(s, rec, { shutdown: true });

      // A host reboot (new boot id), so that the daemon must talk to xapi at once.
      await writeFile(s.bootIdFile, crypto.randomUUID() + '\n');
      const wrongDir = credsDir + '-wrong';
      const WRONG = 'Wr0ng-plugh-Pa55w0rd';
      const bad = await s.start({ config: await passwordConfig(wrongDir, WRONG, 0o600), onSigterm: 'leave-guests' });
      const failed = await bad.daemon.waitForLog((l) => l.msg === 'boot plan could not run; the daemon stays up and retries', 30_000);
      expect(String(failed.err)).toContain('SESSION_AUTHENTICATION_FAILED');
      bad.daemon.signal('SIGTERM');
      expect(await s.exited(bad)).toBe(0);
      rec.held(`wrong password: "${String(failed.err).slice(0, 120)}", the daemon stayed up and exited 0 on SIGTERM`);
      const all = s.runs.map((r) => r.daemon.logs.map((l) => JSON.stringify(l)).join('\n') + r.daemon.stderr()).join('\n');
      expect(all).not.toContain(PASSWORD);
      expect(all).not.toContain(WRONG);
      rec.held(`${s.runs.reduce((n, r) => n + r.daemon.logs.length, 0)} log lines (debug level, ${d.daemon.logs.filter((l) => String(l.msg).includes('session opened')).length} login(s) logged) contain neither password`);
    },
  );

  row(
    {
      id: 'Z3',
      title: 'XenAPI where-expressions, and a guest named with quotes',
      injected: `a guest named  ${HOSTILE[0]}  (and one with every other hostile literal as its name) through a boot and a shutdown, the daemon's XML-RPC recorded on the wire by a proxy`,
      when: 'any time',
      must: 'no guest name reaches any request the daemon sends; every get_all_records_where expression it sends holds only refs and fixed enum values (power states, the disk VBD type); the quoted guests are started and stopped like any other',
    },
    async (rec) => {
      const hostile = HOSTILE.map((name, i) => ({ name_label: name, order: 1 + (i % 2), other_config: on() }));
      const s = await scene([...hostile, { name_label: 'plain', order: 2, other_config: on() }]);
      const wire = await recordingProxy(s.sim.url);
      const d = await s.start({ xapi: wire.url });
      await s.ready(d);
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      const vms = await s.vms();
      for (const name of HOSTILE) {
        const t = (await s.timelines()).get(name);
        expect(t?.events.some((e) => e.event === 'running'), `${name}: started`).toBe(true);
        expect(vms.find((v) => v.name === name)?.powerState, `${name}: stopped`).toBe('Halted');
      }
      rec.held(`${HOSTILE.length} guests named with quotes, backslashes and clause-like text were started and then halted (the simulator's records and timeline)`);
      const calls = wire.calls();
      const carrying = calls.filter((c) => c.params.some((p) => HOSTILE.some((name) => name.length > 2 && p.includes(name))));
      expect(carrying.map((c) => c.method), 'requests carrying a guest name').toEqual([]);
      const wheres = calls.filter((c) => c.method.endsWith('get_all_records_where'));
      expect(wheres.length, 'where-expressions the daemon sent (the shutdown\'s final check sends one)').toBeGreaterThan(0);
      const literals = wheres.flatMap((c) => literalsOf(c.params[1] ?? ''));
      // Constants of the product, never a value a guest's owner controls.
      const fixed = ['Halted', 'Running', 'Paused', 'Suspended', 'Disk'];
      const foreign = literals.filter((l) => !/^OpaqueRef:[0-9a-f-]+$/.test(l) && !fixed.includes(l));
      expect(foreign, 'literals in the daemon\'s where-expressions other than refs and fixed enum values').toEqual([]);
      rec.held(`on the wire: ${calls.length} requests, none carrying a guest name; ${wheres.length} where-expression(s), e.g. ${JSON.stringify(wheres[0]!.params[1])}, holding only refs and fixed enum values`);
      await checkInvariants(s, rec, { shutdown: true });
    },
  );

  row(
    {
      id: 'Z6',
      title: 'values in XenAPI where-expressions escaped',
      injected: `every hostile literal (${HOSTILE.length}: quotes, backslashes, "or true" clauses, a trailing backslash) as a guest name, quoted by the product's quoteLiteral and sent to the simulator's own where-parser (VM.get_all_records_where), alone and inside a compound expression like the daemon's`,
      when: 'any time',
      must: 'each expression matches exactly the guest with that name, nothing more; the same literals unquoted widen or break the match (the check can tell)',
    },
    async (rec) => {
      const s = await scene([...HOSTILE.map((name) => ({ name_label: name, power_state: 'Running' })), { name_label: 'decoy', power_state: 'Running' }, { name_label: 'halted-decoy' }]);
      const call = await xapi(s);
      const namesOf = (records: unknown) => Object.values(records as Record<string, { name_label: string }>).map((r) => r.name_label).sort();
      for (const name of HOSTILE) {
        const alone = `field "name__label" = ${quoteLiteral(name)}`;
        expect(namesOf(await call('VM.get_all_records_where', alone)), alone).toEqual([name]);
        const compound = `${alone} and not (field "power_state" = ${quoteLiteral('Halted')})`;
        expect(namesOf(await call('VM.get_all_records_where', compound)), compound).toEqual([name]);
      }
      rec.held(`${HOSTILE.length} literals, each alone and in a compound expression: exactly its own guest matched, out of ${HOSTILE.length + 3} VMs`);
      // The control: the same literals put in raw either match other guests or are refused by the parser.
      let wrong = 0;
      for (const name of HOSTILE) {
        const raw = `field "name__label" = "${name}"`;
        const matched = await call('VM.get_all_records_where', raw).then(namesOf, () => null);
        if (matched === null || matched.join('\n') !== name) wrong += 1;
      }
      expect(wrong, 'unquoted literals that still matched only their guest').toBeGreaterThan(HOSTILE.length / 2);
      rec.held(`unquoted, ${wrong} of ${HOSTILE.length} literals matched other guests or were refused by the parser`);
    },
  );

  row(
    {
      id: 'Z4',
      title: 'no listening network port',
      injected: 'the daemon running idle after its boot plan',
      when: 'idle',
      must: 'the daemon process holds no listening TCP/UDP socket (v4 or v6) and no listening Unix socket',
    },
    async (rec) => {
      const s = await scene([{ name_label: 'web', other_config: on() }]);
      const d = await s.start();
      await s.ready(d);
      const found = await listeningSockets(d.daemon.proc.pid!);
      // It does hold sockets (its XenAPI connection, the log pipe): the check can see them.
      expect(found.sockets).toBeGreaterThan(0);
      expect(found.listening).toEqual([]);
      rec.held(`/proc/${d.daemon.proc.pid}/fd holds ${found.sockets} socket(s), none listening in /proc/net/{tcp,tcp6,udp,udp6,unix}`);
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
    },
  );

  row(
    {
      id: 'Z5',
      title: 'TLS verification on by default',
      injected: 'the XenAPI endpoint behind a real TLS server with a fresh self-signed certificate (openssl); the daemon with a password file and no CA file or fingerprint, then with a wrong pinned fingerprint, then with the certificate as its CA file',
      when: 'daemon start',
      must: 'refused: the TLS server receives zero request bytes (so no password) while the daemon tries; with the CA file the same endpoint works: the boot and the shutdown run through it',
      ...(hasOpenssl() ? {} : { unavailable: 'needs openssl to make the self-signed certificate; not installed here' }),
    },
    async (rec) => {
      const s = await scene([{ name_label: 'web', order: 1, other_config: on() }], { password: PASSWORD });
      const front = await selfSignedTlsFront(s.sim.url);
      const base = await passwordConfig(s.runtimeDir + '-creds', PASSWORD, 0o600);
      const withXapi = (lines: string) => base.replace('[xapi]', `[xapi]\n${lines}`);
      const wrongPin = front.fingerprint.split(':').map((b, i) => (i === 0 ? (b === '00' ? '01' : '00') : b)).join(':');
      for (const [label, config] of [['no CA file, no fingerprint', base], ['a wrong pinned fingerprint', withXapi(`fingerprint = "${wrongPin}"`)]] as const) {
        const before = front.counts();
        const d = await s.start({ xapi: front.url, config, onSigterm: 'leave-guests' });
        // It tries: connections reach the TLS server and every one ends in the handshake.
        await until(`${label}: a connection attempt`, async () => front.counts().connections > before.connections, 30_000);
        const refused = await d.daemon.waitForLog((l) => /XENAPI_TLS|certificate|fingerprint/i.test(`${String(l.err ?? '')} ${l.msg}`), 30_000);
        d.daemon.signal('SIGTERM');
        expect(await s.exited(d)).toBe(0);
        const after = front.counts();
        expect(after.requestBytes - before.requestBytes, `${label}: request bytes the TLS server received`).toBe(0);
        expect(after.handshakes - before.handshakes, `${label}: handshakes completed`).toBe(0);
        rec.held(`${label}: ${after.connections - before.connections} connection(s) reached the TLS server, 0 handshakes completed, 0 request bytes received; the daemon said "${String(refused.err ?? refused.msg).slice(0, 140)}"`);
      }
      expect((await s.timelines()).get('web')?.events.some((e) => e.event === 'start requested') ?? false, 'web started without a trusted endpoint').toBe(false);
      const trusted = await s.start({ xapi: front.url, config: withXapi(`ca_file = "${front.certFile}"`) });
      await s.ready(trusted);
      await timelineShows(s, 'web', 'running');
      trusted.daemon.signal('SIGTERM');
      expect(await s.exited(trusted)).toBe(0);
      expect(front.counts().requestBytes).toBeGreaterThan(0);
      expect((await s.vms()).find((v) => v.name === 'web')?.powerState).toBe('Halted');
      rec.held(`with the certificate as ca_file: ${front.counts().handshakes} handshake(s), ${front.counts().requestBytes} request bytes through the TLS server; web started and then stopped through it`);
      await checkInvariants(s, rec, { shutdown: true });
    },
  );
});
