// Fault matrix, area "security": credentials file permissions, TLS verification by default,
// passwords never logged, XenAPI where-expressions, and no listening network port.

import { describe, expect } from 'vitest';
import { chmod, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { configToml, on, scene } from './harness.js';
import { checkInvariants } from './invariants.js';
import { matrixArea } from './matrix.js';

const row = matrixArea('security', 'security');
const timeout = () => 10;
const ROOT = resolve(import.meta.dirname, '../..');
const PASSWORD = 'S3cr3t-xyzzy-Pa55w0rd';

async function passwordConfig(dir: string, password: string, mode: number): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'xapi-password');
  await writeFile(file, password + '\n');
  await chmod(file, mode);
  return configToml({ extra: '' }).replace('[xapi]', `[xapi]\nuser = "root"\npassword_file = "${file}"`);
}

/** Source files of the product (not the simulator) that contain `text`. */
async function productFilesContaining(text: string): Promise<string[]> {
  const hits: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (path !== join(ROOT, 'src', 'sim')) await walk(path);
      } else if (entry.name.endsWith('.ts') && (await readFile(path, 'utf8')).includes(text)) {
        hits.push(path.slice(ROOT.length + 1));
      }
    }
  };
  await walk(join(ROOT, 'src'));
  return hits;
}

/** Every get_all_records_where expression in the product's code, with the values interpolated into it. */
async function whereExpressions(): Promise<{ file: string; expression: string; values: string[] }[]> {
  const sites: { file: string; expression: string; values: string[] }[] = [];
  for (const file of await productFilesContaining('get_all_records_where')) {
    const text = await readFile(join(ROOT, file), 'utf8');
    // Template literals that look like db_filter expressions: field "<column>" = ...
    for (const m of text.matchAll(/`([^`]*field\s+"[^"]+"[^`]*)`/g)) {
      sites.push({ file, expression: m[1]!, values: [...m[1]!.matchAll(/\$\{([^}]+)\}/g)].map((v) => v[1]!) });
    }
  }
  return sites;
}

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
      const counts = (await s.sim.call('sim.get_call_counts')) as { total: number };
      expect(Number(counts.total)).toBe(0);
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
      must: 'neither password appears in any stdout or stderr line; the wrong one gives a clear error and the daemon stays up',
    },
    async (rec) => {
      const s = await scene([{ name_label: 'web', order: 1, other_config: on() }], { password: PASSWORD });
      const credsDir = s.runtimeDir + '-creds';
      const d = await s.start({ config: await passwordConfig(credsDir, PASSWORD, 0o600) });
      await s.ready(d);
      await s.sim.call('sim.restart_toolstack', 50);
      await new Promise((r) => setTimeout(r, 1500));
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      const logins = d.daemon.logs.filter((l) => String(l.msg).includes('session opened')).length;
      expect(logins).toBeGreaterThanOrEqual(1);
      await checkInvariants(s, rec, { cleanTimeout: timeout, shutdown: true });

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
      rec.held(`${s.runs.reduce((n, r) => n + r.daemon.logs.length, 0)} log lines (debug level, ${logins} login(s) logged) contain neither password`);
    },
  );

  row(
    {
      id: 'Z3',
      title: 'XenAPI where-expressions, and a guest named with quotes',
      injected: 'a guest named  a "quoted" \'guest\' \\ name  through a boot and a shutdown',
      when: 'any time',
      must: 'no name or config value ever reaches a get_all_records_where expression; the quoted name is handled like any other',
    },
    async (rec) => {
      const sites = await whereExpressions();
      for (const site of sites) expect(site.values.filter((v) => !/\bref\b/i.test(v)), `${site.file}: values other than refs in "${site.expression}"`).toEqual([]);
      rec.held(
        sites.length === 0
          ? 'the product builds no get_all_records_where expression: guests are read whole and matched in code'
          : `${sites.length} expression(s) built (${sites.map((x) => `${x.file}: ${x.values.join(', ')}`).join('; ')}): only xapi's own refs are put into them, never a name`,
      );
      const name = 'a "quoted" \'guest\' \\ name';
      const s = await scene([{ name_label: name, order: 1, other_config: on() }, { name_label: 'plain', order: 2, other_config: on() }]);
      const d = await s.start();
      await s.ready(d);
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      const shutdown = await s.report('shutdown');
      expect(shutdown!.guests.find((g) => g.guest.name === name)?.outcome).toBe('clean');
      rec.held('the quoted guest was started and stopped cleanly, named exactly in the report');
      await checkInvariants(s, rec, { cleanTimeout: timeout, shutdown: true });
    },
  );

  row(
    {
      id: 'Z6',
      title: 'values in XenAPI where-expressions escaped',
      injected: 'a code check of every get_all_records_where expression the product builds',
      when: 'any time',
      must: 'every value put into an expression goes through an escape of " and \\',
    },
    async (rec) => {
      const sites = await whereExpressions();
      rec.held(`${sites.length} expression(s) found`);
      for (const site of sites) for (const v of site.values) expect(v, `${site.file}: "${site.expression}"`).toMatch(/escape|quote/i);
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
      injected: 'a self-signed certificate on the XenAPI endpoint (openssl), no CA file or fingerprint configured',
      when: 'daemon start',
      must: 'refused, and nothing (no password) sent; a CA file or a pinned fingerprint makes it work',
    },
    async (rec) => {
      // Covered by the client's own TLS tests with a real openssl certificate; this row checks they exist.
      const tls = await readFile(join(ROOT, 'test/xenapi/tls.test.ts'), 'utf8');
      for (const title of ['refuses a self-signed certificate by default and sends nothing', 'trusts the certificate through a CA file', 'refuses a certificate whose fingerprint does not match, before sending anything']) {
        expect(tls, title).toContain(title);
        rec.held(`test/xenapi/tls.test.ts: "${title}"`);
      }
    },
  );
});
