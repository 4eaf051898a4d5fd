// Fault matrix, area "input": bad config files, per-guest keys with garbage, bad command-line
// arguments, and XenAPI answers that are malformed XML, of the wrong types, with unexpected fields,
// or huge (from a fake xapi written for this, since the simulator always answers well).

import { describe, expect } from 'vitest';
import { createServer, type Server } from 'node:http';
import { configToml, on, onCleanup, scene } from './harness.js';
import { checkInvariants, reportOf } from './invariants.js';
import { matrixArea } from './matrix.js';
import { makeTempDir, spawnDaemon } from '../helpers/daemon.js';

const row = matrixArea('input', 'input');

type Mode = 'malformed' | 'wrong-types' | 'huge';

/** A fake xapi: logins succeed, every other call gets the bad answer of `mode`. */
async function badXapi(mode: Mode): Promise<{ url: string; calls: string[] }> {
  const calls: string[] = [];
  const envelope = (value: string, extra = '') =>
    `<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member>${extra}<member><name>Value</name><value>${value}</value></member></struct></value></param></params></methodResponse>`;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const method = /<methodName>([^<]*)<\/methodName>/.exec(body)?.[1] ?? '?';
      calls.push(method);
      res.setHeader('content-type', 'text/xml');
      if (method.startsWith('session.')) return void res.end(envelope('OpaqueRef:fake-session'));
      if (mode === 'malformed') return void res.end(envelope('<array><data><value>OpaqueRef:a</value>').slice(0, 170));
      if (mode === 'huge') return void res.end(envelope(`<string>${'x'.repeat(12 * 1024 * 1024)}</string>`));
      // Wrong types, with a field xapi never sends.
      if (method === 'pool.get_all') return void res.end(envelope('<array><data><value>OpaqueRef:pool</value></data></array>', '<member><name>Unexpected</name><value>surprise</value></member>'));
      return void res.end(envelope('<int>42</int>', '<member><name>Unexpected</name><value>surprise</value></member>'));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  onCleanup(() => new Promise((r) => server.close(r)));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, calls };
}

function badAnswerRow(id: string, mode: Mode, injected: string) {
  row(
    {
      id,
      title: `XenAPI answers ${mode === 'malformed' ? 'that are malformed XML' : mode === 'huge' ? 'that are huge' : 'of the wrong types, with unexpected fields'}`,
      injected,
      when: 'daemon start',
      must: 'a clear error naming the call; the daemon stays up (READY=1, retrying), never crashes or loops; a stop exits 0',
    },
    async (rec) => {
      const fake = await badXapi(mode);
      const stateDir = await makeTempDir('xg-bad-');
      const runtime = await makeTempDir('xg-bad-run-');
      const d = await spawnDaemon({ xapi: fake.url, stateDir, configToml: configToml({ callTimeout: 5, waitReady: 5 }), onSigterm: 'leave-guests', env: { XEN_GUESTS_RUNTIME_DIR: runtime } });
      onCleanup(() => d.stop());
      const line = await d.waitForLog((l) => l.msg === 'boot plan could not run; the daemon stays up and retries', 45_000);
      expect(String(line.err)).toMatch(/[A-Za-z]+\.[a-z_]+/);
      rec.held(`error: "${String(line.err).slice(0, 160)}"`);
      expect(d.proc.exitCode).toBeNull();
      rec.held(`the daemon stayed up after ${fake.calls.length} calls answered badly`);
      d.signal('SIGTERM');
      const code = await Promise.race([d.exited, new Promise((r) => setTimeout(() => r('hang'), 30_000))]);
      expect(code).toBe(0);
      expect(d.logs.filter((l) => l.level >= 60)).toEqual([]);
      rec.held('SIGTERM: exit 0, no fatal line');
    },
  );
}

describe('fault matrix: bad input', () => {
  row(
    {
      id: 'B1',
      title: 'config file with wrong types, unknown keys and out-of-range numbers',
      injected: 'deadline = "soon", parallelism = 0, hard_reserve = -1, a key [boot] colour = "red"',
      when: 'daemon start',
      must: 'exit 78 before acting (no XenAPI call), every problem named with file, key, value and what is allowed',
    },
    async (rec) => {
      const s = await scene([{ name_label: 'web', other_config: on() }]);
      const d = await s.start({ config: '[shutdown]\ndeadline = "soon"\nparallelism = 0\nhard_reserve = -1\n[boot]\ncolour = "red"\n' });
      expect(await s.exited(d)).toBe(78);
      const err = d.daemon.stderr();
      for (const key of ['deadline', 'parallelism', 'hard_reserve', 'colour']) expect(err, key).toContain(key);
      expect(err).toContain('"soon"');
      rec.held(`exit 78; stderr: "${err.split('\n').slice(0, 3).join(' / ').slice(0, 220)}…"`);
      expect((await s.callLog()).map((c) => c.method), 'XenAPI calls in the simulator\'s log').toEqual([]);
      rec.held('no XenAPI call from the daemon in the simulator\'s call log');
    },
  );

  row(
    {
      id: 'B2',
      title: 'per-guest keys with garbage',
      injected: 'on_start = "maybe", shutdown_timeout = "-5", ready = "vm-data/", an unknown xen-guests:colour, on_stop = "suspend"',
      when: 'boot plan',
      must: 'each named in a log line with guest, key, value and what is allowed; defaulted; the other guests unaffected',
    },
    async (rec) => {
      const s = await scene([
        {
          name_label: 'garbage',
          order: 1,
          other_config: on({ 'xen-guests:on_start': 'maybe', 'xen-guests:shutdown_timeout': '-5', 'xen-guests:ready': 'vm-data/', 'xen-guests:colour': 'red', 'xen-guests:on_stop': 'suspend' }),
        },
        { name_label: 'clean', order: 2, other_config: on() },
      ]);
      const d = await s.start();
      await s.ready(d);
      const problems = d.daemon.logs.filter((l) => l.level >= 40 && String(l.msg).includes('garbage'));
      for (const key of ['on_start', 'shutdown_timeout', 'ready', 'colour', 'suspend']) {
        expect(problems.some((l) => String(l.msg).includes(key)), key).toBe(true);
      }
      rec.held(`${problems.length} warn/error lines name the guest and each bad key, e.g. "${String(problems[0]!.msg).slice(0, 120)}"`);
      const boot = await s.report('boot');
      expect(reportOf(boot, 'clean')?.outcome).toBe('started');
      rec.held(`the other guest started; the garbage one: ${reportOf(boot, 'garbage')?.outcome}`);
      d.daemon.signal('SIGTERM');
      expect(await s.exited(d)).toBe(0);
      await checkInvariants(s, rec, { shutdown: true });
    },
  );

  row(
    {
      id: 'B3',
      title: 'bad command-line arguments',
      injected: 'an unknown flag; --on-sigterm sometimes; --xapi ftp://host',
      when: 'daemon start',
      must: 'exit 2 (the one rule for the command line: a bad config file is 78) with usage for an unknown flag, naming the flag and what is allowed for bad values; nothing done',
    },
    async (rec) => {
      const s = await scene([{ name_label: 'web', other_config: on() }]);
      const cases: [string[], number, RegExp][] = [
        [['--frobnicate'], 2, /frobnicate/],
        [['--on-sigterm', 'sometimes'], 2, /on-sigterm.*sometimes/s],
        [['--xapi', 'ftp://host'], 2, /--xapi.*ftp:\/\/host/s],
      ];
      for (const [args, want, says] of cases) {
        const d = await s.start({ extraArgs: args });
        expect(await s.exited(d), args.join(' ')).toBe(want);
        expect(d.daemon.stderr(), args.join(' ')).toMatch(says);
        rec.held(`${args.join(' ')} → exit ${want}: "${d.daemon.stderr().split('\n')[0]!.slice(0, 110)}"`);
      }
      expect((await s.callLog()).map((c) => c.method), 'XenAPI calls in the simulator\'s log').toEqual([]);
      rec.held('no XenAPI call was made by any of them (the simulator\'s call log)');
    },
  );

  badAnswerRow('B4', 'malformed', 'every answer but the login is XML cut off in the middle');
  badAnswerRow('B5', 'wrong-types', 'every answer is an int where a struct or array is expected, with an extra envelope field');
  badAnswerRow('B6', 'huge', 'every answer but the login is a 12 MiB string');
});
