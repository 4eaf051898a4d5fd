// The man page and the bash completion (issue 16, item 11). Both are generated from the commands'
// own --help texts by `xen-guests help --man` / `--bash-completion`; the committed files must be
// what those commands produce now (regenerated here into a temp dir, never written by npm test), and
// the completion is exercised in a real bash against the real simulator for guest names.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSim, type SimHandle } from '../helpers/sim.js';
import { BIN, runCli } from './run-cli.js';

const ROOT = resolve(import.meta.dirname, '../..');
const COMMANDS = ['daemon', 'demo', 'sim', 'config', 'enable', 'disable', 'maintenance', 'host', 'plan', 'status', 'report', 'start-all', 'stop-all'];

let dir: string;
let sim: SimHandle;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xg-man-'));
  sim = await spawnSim({ scenario: { guests: [{ name_label: 'web-01' }, { name_label: 'web-02' }, { name_label: 'db-01' }, { name_label: 'tpl', is_a_template: true }] } });
  // The completion calls the command by the name the user typed: put one on a private PATH.
  await writeFile(join(dir, 'xen-guests'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  await chmod(join(dir, 'xen-guests'), 0o755);
});

afterAll(async () => {
  await sim?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('man page xen-guests(8)', () => {
  it('the committed docs/xen-guests.8 is exactly what "xen-guests help --man" generates now', async () => {
    const r = await runCli(['help', '--man']);
    expect(r.code).toBe(0);
    await writeFile(join(dir, 'xen-guests.8'), r.stdout);
    expect(await readFile(join(dir, 'xen-guests.8'), 'utf8')).toBe(await readFile(join(ROOT, 'docs/xen-guests.8'), 'utf8'));
  });

  it('holds every command\'s --help text, as the command itself prints it', async () => {
    const page = (await runCli(['help', '--man'])).stdout;
    expect(page).toMatch(/^\.TH XEN-GUESTS 8 /m);
    for (const command of COMMANDS) {
      const help = await runCli([command, '--help']);
      expect(page).toContain(`.SS ${command}\n`);
      // The first usage line, escaped for roff only where needed (backslashes).
      const firstLine = help.stdout.split('\n')[0]!.replace(/\\/g, '\\e');
      expect({ command, inPage: page.includes(firstLine) }).toEqual({ command, inPage: true });
    }
  });

  it('man renders it without warnings', async () => {
    const rendered = await new Promise<{ out: string; err: string }>((done) =>
      execFile('man', ['--warnings', '-l', join(ROOT, 'docs/xen-guests.8')], { env: { ...process.env, MANWIDTH: '100', MAN_KEEP_FORMATTING: '' } }, (_e, out, err) => done({ out, err })),
    );
    expect(rendered.err).toBe('');
    expect(rendered.out).toContain('XEN-GUESTS(8)');
    expect(rendered.out).toContain('EXIT STATUS');
  });
});

describe('bash completion', () => {
  it('the committed completion/xen-guests.bash is exactly what "xen-guests help --bash-completion" generates now', async () => {
    const r = await runCli(['help', '--bash-completion']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(await readFile(join(ROOT, 'completion/xen-guests.bash'), 'utf8'));
  });

  /** Runs the completion function in a real bash for the words typed, returning its candidates. */
  function complete(words: string[]): Promise<string[]> {
    const script = `source ${JSON.stringify(join(ROOT, 'completion/xen-guests.bash'))}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
unset -f _init_completion 2>/dev/null  # the fallback path, as on hosts without bash-completion
_xen_guests; printf '%s\\n' "\${COMPREPLY[@]}"`;
    return new Promise((done, fail) =>
      execFile('bash', ['--norc', '-c', script], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }, timeout: 20_000 }, (err, out) =>
        err ? fail(err) : done(out.split('\n').filter(Boolean)),
      ),
    );
  }

  it('completes commands, a command\'s flags and its subcommands', async () => {
    expect(await complete(['xen-guests', 'st'])).toEqual(['status', 'start-all', 'stop-all'].sort((a, b) => COMMANDS.indexOf(a) - COMMANDS.indexOf(b)));
    expect(await complete(['xen-guests', 'maintenance', '--'])).toEqual(expect.arrayContaining(['--reason', '--block-start', '--wait', '--xapi']));
    expect(await complete(['xen-guests', 'report', '--'])).not.toContain('--xapi');
    expect(await complete(['xen-guests', 'plan', ''])).toEqual(['boot', 'shutdown']);
    expect(await complete(['xen-guests', 'maintenance', ''])).toEqual(['on', 'off', 'list']);
  });

  it('completes guest names and uuids from the toolstack named on the command line (no templates)', async () => {
    const names = await complete(['xen-guests', 'enable', '--xapi', sim.url, 'web']);
    expect(names.sort()).toEqual(['web-01', 'web-02']);
    const all = await complete(['xen-guests', 'maintenance', 'on', '--xapi', sim.url, '']);
    expect(all).toEqual(expect.arrayContaining(['web-01', 'web-02', 'db-01']));
    expect(all).not.toContain('tpl');
    expect(all.filter((w) => /^[0-9a-f]{8}-/.test(w))).toHaveLength(3);
  });

  it('asks the toolstack a typed --xapi URL names, although bash hands the URL over split at ":"', async () => {
    // COMP_WORDBREAKS holds ":", so bash gives "--xapi http://127.0.0.1:PORT" as five words.
    const url = new URL(sim.url);
    const split = ['http', ':', `//${url.hostname}`, ':', url.port];
    expect((await complete(['xen-guests', 'enable', '--xapi', ...split, 'web'])).sort()).toEqual(['web-01', 'web-02']);
    expect(await complete(['xen-guests', 'maintenance', '--xapi', ...split, 'on', 'db'])).toEqual(['db-01']);
  });

  it('--xapi completes the schemes, then after "unix:" sockets and directories (not plain files), and nothing after http(s)://', async () => {
    // A real listening Unix socket, a directory and a plain file side by side.
    const { createServer } = await import('node:net');
    const { mkdir } = await import('node:fs/promises');
    const sockets = join(dir, 'sockets');
    await mkdir(join(sockets, 'sub'), { recursive: true });
    await writeFile(join(sockets, 'notes.txt'), 'not a socket\n');
    const server = createServer();
    await new Promise<void>((done) => server.listen(join(sockets, 'xapi.sock'), done));
    try {
      expect((await complete(['xen-guests', 'status', '--xapi', ''])).sort()).toEqual(['http://', 'https://', 'unix:/var/lib/xcp/xapi']);
      expect(await complete(['xen-guests', 'status', '--xapi', 'un'])).toEqual(['unix:/var/lib/xcp/xapi']);
      // bash hands "unix:" over as "unix" ":" and replaces only what follows the last ":".
      expect(await complete(['xen-guests', 'status', '--xapi', 'unix', ':'])).toEqual(['/var/lib/xcp/xapi']);
      expect((await complete(['xen-guests', 'enable', '--xapi', 'unix', ':', `${sockets}/`])).sort()).toEqual([`${sockets}/sub/`, `${sockets}/xapi.sock`]);
      expect(await complete(['xen-guests', 'plan', 'boot', '--xapi', 'unix', ':', `${sockets}/x`])).toEqual([`${sockets}/xapi.sock`]);
      // After "https:" bash completes the text after the colon: "//"; after "https://…" nothing.
      expect(await complete(['xen-guests', 'status', '--xapi', 'https', ':'])).toEqual(['//']);
      expect(await complete(['xen-guests', 'status', '--xapi', 'https', ':', '//'])).toEqual([]);
      expect(await complete(['xen-guests', 'status', '--xapi', 'http', ':', '//127.0.0.1', ':', ''])).toEqual([]);
      // The value done, completion goes on as before: guests from the toolstack the socket names.
      expect(await complete(['xen-guests', 'status', '--xapi', 'unix', ':', `${sockets}/xapi.sock`, '--'])).toEqual(expect.arrayContaining(['--json', '--wait']));
    } finally {
      await new Promise<void>((done) => server.close(() => done()));
    }
  });

  it('gives up quietly when nothing listens: no candidates, no output on the terminal', async () => {
    expect(await complete(['xen-guests', 'status', '--xapi', 'unix:/nonexistent/xapi', ''])).toEqual([]);
  });
});
