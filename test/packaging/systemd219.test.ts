// What ships must work on an XCP-ng 8.x / XenServer dom0, whose systemd is 219:
//  - every directive in units/*.service is one systemd 219 knows (systemd-219-directives.txt), since
//    219 ignores unknown ones with a mere warning and the unit would silently lose its meaning;
//  - the package scriptlets (RPM spec, .deb maintainer scripts), run for real by sh with a recording
//    systemctl on PATH, call only systemctl verbs and options 219 has, and do what each transition
//    needs: enable on first install, daemon-reload, restart (never stop) on upgrade, stop on removal.

import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const here = (f: string) => readFile(join(import.meta.dirname, f), 'utf8');
const dataLines = (text: string) => text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

describe('units/*.service on systemd 219', async () => {
  const known = new Set(dataLines(await here('systemd-219-directives.txt')));
  const units = (await readdir(join(ROOT, 'units'))).filter((f) => f.endsWith('.service'));

  it('finds the unit files', () => expect(units).toEqual(expect.arrayContaining(['xen-guests.service', 'xen-guests-xl.service'])));

  for (const unit of units) {
    it(`${unit}: every directive exists in systemd 219`, async () => {
      const unknown: string[] = [];
      let section = '';
      for (const line of (await readFile(join(ROOT, 'units', unit), 'utf8')).split('\n')) {
        const header = /^\[(\w+)\]\s*$/.exec(line);
        if (header) section = header[1]!;
        const directive = /^([A-Za-z]+)\s*=/.exec(line);
        if (directive && !known.has(`${section}.${directive[1]}`)) unknown.push(`${section}.${directive[1]}`);
      }
      expect(unknown).toEqual([]);
    });
  }
});

interface Calls {
  systemctl: string[][];
  exitCode: number;
}

const work = await mkdtemp(join(tmpdir(), 'xg-scriptlets-'));
afterAll(() => rm(work, { recursive: true, force: true }));

/**
 * Runs a scriptlet with /bin/sh, ARGS as its $1.., and a recording systemctl first on PATH — or,
 * with withSystemctl false, no systemctl at all (nothing else on PATH either).
 */
async function runScriptlet(body: string, args: string[], withSystemctl = true): Promise<Calls> {
  const dir = await mkdtemp(join(work, 'run-'));
  const log = join(dir, 'calls');
  await writeFile(log, '');
  if (withSystemctl) {
    await writeFile(join(dir, 'systemctl'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\n`);
    await chmod(join(dir, 'systemctl'), 0o755);
  }
  const PATH = withSystemctl ? `${dir}:/usr/bin:/bin` : dir;
  const exitCode = await new Promise<number>((done, fail) => {
    const child = execFile('/bin/sh', ['-c', body, 'scriptlet', ...args], { env: { PATH }, timeout: 20_000 });
    child.on('error', fail);
    child.on('close', (code) => done(code ?? -1));
  });
  const systemctl = (await readFile(log, 'utf8')).split('\n').filter(Boolean).map((l) => l.split(' '));
  return { systemctl, exitCode };
}

/** The body of one %section of the spec: the lines up to the next %section. */
function specSection(spec: string, name: string): string {
  const lines = spec.split('\n');
  const start = lines.indexOf(`%${name}`);
  if (start < 0) throw new Error(`no %${name} in the spec`);
  const end = lines.findIndex((l, i) => i > start && /^%(post|preun|postun|pre|files|install|description|changelog)\b/.test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

describe('package scriptlets on systemd 219', async () => {
  const allowed = dataLines(await here('systemctl-219-verbs.txt'));
  const verbs = new Set(allowed.filter((l) => l.startsWith('verb ')).map((l) => l.slice(5)));
  const options = new Set(allowed.filter((l) => l.startsWith('option ')).map((l) => l.slice(7)));
  const spec = await readFile(join(ROOT, 'packaging/xen-guests.spec'), 'utf8');
  const deb = (f: string) => readFile(join(ROOT, 'packaging/deb', f), 'utf8');

  /** Every call uses a 219 verb and 219 options only; returns the calls without options. */
  function only219(calls: Calls): string[] {
    expect(calls.exitCode, 'scriptlet exit code').toBe(0);
    return calls.systemctl.map((argv) => {
      const flags = argv.filter((a) => a.startsWith('-'));
      const words = argv.filter((a) => !a.startsWith('-'));
      for (const f of flags) expect(options, `systemctl option ${f} (in: systemctl ${argv.join(' ')})`).toContain(f);
      expect(verbs, `systemctl verb ${words[0]} (in: systemctl ${argv.join(' ')})`).toContain(words[0]);
      return argv.join(' ');
    });
  }

  it('RPM, first install: daemon-reload, then enable (not start: the admin checks the plan first)', async () => {
    expect(only219(await runScriptlet(specSection(spec, 'post'), ['1']))).toEqual(['daemon-reload', 'enable xen-guests.service']);
  });

  it('RPM, upgrade: daemon-reload and try-restart onto the new executable; no stop, no enable', async () => {
    expect(only219(await runScriptlet(specSection(spec, 'post'), ['2']))).toEqual(['daemon-reload']);
    expect(only219(await runScriptlet(specSection(spec, 'preun'), ['1']))).toEqual([]);
    expect(only219(await runScriptlet(specSection(spec, 'postun'), ['1']))).toEqual(['daemon-reload', 'try-restart xen-guests.service']);
  });

  it('RPM, removal: disable and stop the service, then daemon-reload', async () => {
    expect(only219(await runScriptlet(specSection(spec, 'preun'), ['0']))).toEqual(['--no-reload disable xen-guests.service', 'stop xen-guests.service']);
    expect(only219(await runScriptlet(specSection(spec, 'postun'), ['0']))).toEqual(['daemon-reload']);
  });

  it('.deb: install reloads only (xendomains must be masked before enabling), upgrade restarts, removal stops', async () => {
    expect(only219(await runScriptlet(await deb('postinst'), ['configure', '']))).toEqual(['daemon-reload']);
    expect(only219(await runScriptlet(await deb('postinst'), ['configure', '0.1.0-1']))).toEqual(['daemon-reload', 'try-restart xen-guests-xl.service']);
    expect(only219(await runScriptlet(await deb('prerm'), ['upgrade', '0.2.0-1']))).toEqual([]);
    expect(only219(await runScriptlet(await deb('prerm'), ['remove']))).toEqual(['--no-reload disable xen-guests-xl.service', 'stop xen-guests-xl.service']);
    expect(only219(await runScriptlet(await deb('postrm'), ['remove']))).toEqual(['daemon-reload']);
  });

  it('a systemctl that is not there (an empty --root) does not fail the transaction', async () => {
    for (const [section, arg] of [['post', '1'], ['preun', '0'], ['postun', '0'], ['postun', '1']] as const) {
      const calls = await runScriptlet(specSection(spec, section), [arg], false);
      expect(calls, `%${section} ${arg}`).toEqual({ systemctl: [], exitCode: 0 });
    }
  });
});
