import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyOverrides,
  ConfigError,
  type ConfigProblem,
  DEFAULT_CONFIG_PATH,
  defaultConfig,
  formatConfig,
  parseConfig,
} from '../../../src/core/config.js';
import { loadConfigFile, readPasswordFile } from '../../../src/app/config-files.js';

const FILE = '/etc/xen-guests/config.toml';

/** The problems parseConfig reports for `text`; fails the test when it reports none. */
function problemsOf(text: string): ConfigProblem[] {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error(`expected problems for:\n${text}`);
}

function onlyProblem(text: string): ConfigProblem {
  const problems = problemsOf(text);
  expect(problems, problems.map((p) => p.message).join('\n')).toHaveLength(1);
  return problems[0]!;
}

describe('defaults', () => {
  it('fills every field with what an experienced Xen admin expects', () => {
    const c = defaultConfig();
    expect(c.toolstack.kind).toBe('xenapi');
    expect(c.xapi.url).toBe('unix:/var/lib/xcp/xapi');
    expect(c.boot).toEqual({ parallelism: 4, ready: { kind: 'running' }, readyTimeout: 300, honourAutoPoweron: true, orderWithinGroup: 'longest-first' });
    expect(c.shutdown).toEqual({ parallelism: 8, guestTimeout: 180, deadline: 900, hardReserve: 60, onSigterm: 'auto', onStop: 'shutdown', orderWithinGroup: 'longest-first' });
    expect(c.stateDir).toBe('/var/lib/xen-guests');
    expect(c.guests).toEqual({});
  });

  it('an empty file means the defaults, with the file as source', () => {
    expect(parseConfig('', FILE)).toEqual({ ...defaultConfig(), source: FILE });
  });

  it('the shipped config/config.toml states exactly the defaults', async () => {
    const path = resolve('config/config.toml');
    const shipped = parseConfig(await readFile(path, 'utf8'), path);
    expect(shipped).toEqual({ ...defaultConfig(), source: path });
  });

  it('the shipped file documents every key the parser knows', async () => {
    const shipped = await readFile(resolve('config/config.toml'), 'utf8');
    const printed = formatConfig(defaultConfig());
    const keys = [...printed.matchAll(/^([a-z_]+) = /gm)].map((m) => m[1]!);
    expect(keys.length).toBeGreaterThan(15);
    for (const key of keys) expect(shipped, key).toMatch(new RegExp(`^#.*\\n(#.*\\n)*${key} = `, 'm'));
  });

  it('formatConfig prints TOML that parses back to the same config', () => {
    const text = `
state_dir = "/srv/xg"
[toolstack]
kind = "xl"
[xapi]
fingerprint = "${'ab'.repeat(32)}"
[boot]
ready = "vm-data/app/ready"
honour_auto_poweron = false
[shutdown]
deadline = 1200
hard_reserve = 120
guest_timeout = 300
[guests."web \\"front\\" é"]
on_start = "restore"
order = 3
auto_poweroff = true
`;
    const config = parseConfig(text, FILE);
    expect(config.xapi.fingerprint).toBe(Array(32).fill('AB').join(':'));
    expect(config.guests['web "front" é']).toEqual({ on_start: 'restore', order: '3', auto_poweroff: 'true' });
    expect(parseConfig(formatConfig(config), FILE)).toEqual(config);
  });
});

describe('bad input: each problem names file, key, value and what is allowed', () => {
  it('out-of-range number, in the words of the brief', () => {
    const p = onlyProblem('[shutdown]\ndeadline = -5\n');
    expect(p.message).toBe('shutdown.deadline = -5 in /etc/xen-guests/config.toml: must be a whole number of seconds from 10 to 86400');
    expect(p).toMatchObject({ file: FILE, key: 'shutdown.deadline', value: '-5' });
  });

  it('TOML syntax errors give line and column', () => {
    const p = onlyProblem('[boot]\nparallelism = = 4\n');
    expect(p.message).toMatch(/^\/etc\/xen-guests\/config.toml: TOML syntax error at line 2, column \d+/);
  });

  it('a key defined twice is a syntax error', () => {
    expect(onlyProblem('[boot]\nparallelism = 4\nparallelism = 5\n').message).toContain('line 3');
  });

  it('unknown keys are errors, with the allowed keys and a did-you-mean', () => {
    const p = onlyProblem('[shutdown]\ndealine = 900\n');
    expect(p.key).toBe('shutdown.dealine');
    expect(p.message).toContain('unknown key; allowed in [shutdown]: parallelism, guest_timeout, deadline, hard_reserve, on_sigterm, on_stop');
    expect(p.message).toContain('did you mean "deadline"?');
  });

  it('unknown top-level keys and sections are errors', () => {
    const problems = problemsOf('statedir = "/x"\n[bot]\nparallelism = 2\n');
    expect(problems.map((p) => p.key)).toEqual(['statedir', 'bot']);
    expect(problems[0]!.message).toContain('did you mean "state_dir"?');
    expect(problems[1]!.message).toContain('did you mean "boot"?');
  });

  it('a section that is not a table', () => {
    expect(onlyProblem('boot = 4\n').message).toBe('boot = 4 in /etc/xen-guests/config.toml: must be a table ([boot])');
  });

  it.each([
    ['[boot]\nparallelism = "4"\n', 'boot.parallelism', '"4"', 'must be a whole number from 1 to 1000'],
    ['[boot]\nparallelism = 2.5\n', 'boot.parallelism', '2.5', 'must be a whole number from 1 to 1000'],
    ['[boot]\nparallelism = 0\n', 'boot.parallelism', '0', 'must be a whole number from 1 to 1000'],
    ['[boot]\nready_timeout = 0\n', 'boot.ready_timeout', '0', 'must be a whole number of seconds from 1 to 86400'],
    ['[boot]\nhonour_auto_poweron = "yes"\n', 'boot.honour_auto_poweron', '"yes"', 'must be true or false (no quotes)'],
    ['[shutdown]\nparallelism = 100000\n', 'shutdown.parallelism', '100000', 'must be a whole number from 1 to 1000'],
    ['[shutdown]\nhard_reserve = 1\n', 'shutdown.hard_reserve', '1', 'must be a whole number of seconds from 5 to 3600'],
    ['[shutdown]\non_sigterm = "stop"\n', 'shutdown.on_sigterm', '"stop"', 'must be one of auto, stop-guests, leave-guests'],
    ['[shutdown]\non_stop = "evacuate"\n', 'shutdown.on_stop', '"evacuate"', 'must be one of shutdown, poweroff, migrate'],
    ['[shutdown]\non_stop = "suspend"\n', 'shutdown.on_stop', '"suspend"', 'suspend is refused'],
    ['[toolstack]\nkind = "xapi"\n', 'toolstack.kind', '"xapi"', 'must be one of xenapi, xl (did you mean "xenapi"?)'],
    ['[toolstack]\nkind = 1\n', 'toolstack.kind', '1', 'must be a quoted string: one of xenapi, xl'],
    ['[log]\nlevel = "verbose"\n', 'log.level', '"verbose"', 'must be one of trace, debug, info, warn, error, fatal'],
    ['state_dir = "var/lib/xg"\n', 'state_dir', '"var/lib/xg"', 'must be an absolute path'],
    ['[xapi]\nca_file = "ca.pem"\n', 'xapi.ca_file', '"ca.pem"', 'must be "" (none) or an absolute path'],
    ['[xapi]\ncall_timeout = 0\n', 'xapi.call_timeout', '0', 'must be a whole number of seconds from 1 to 3600'],
    ['[xapi]\nuser = ""\n', 'xapi.user', '""', 'must be a non-empty user name'],
    ['[xapi]\nhost_uuid = "host1"\n', 'xapi.host_uuid', '"host1"', 'must be "" (find it from /etc/xensource-inventory) or a host uuid'],
    ['[xapi]\nfingerprint = "AB:CD"\n', 'xapi.fingerprint', '"AB:CD"', 'must be "" (none) or a SHA-256 fingerprint'],
    ['[boot]\nready = "vm-data/"\n', 'boot.ready', '"vm-data/"', 'must be running, agent, or vm-data/KEY'],
    ['[boot]\nready = "agnet"\n', 'boot.ready', '"agnet"', '(did you mean "agent"?)'],
  ])('%s', (text, key, value, allowed) => {
    const p = onlyProblem(text);
    expect(p.key).toBe(key);
    expect(p.value).toBe(value);
    expect(p.allowed).toContain(allowed);
    expect(p.message).toBe(`${key} = ${value} in ${FILE}: ${p.allowed}`);
  });

  it.each([
    'http://192.168.1.10',
    'https://root:secret@xcp.example',
    'unix:var/lib/xcp/xapi',
    'ftp://xcp.example',
    'xcp.example',
    'https://xcp.example/?x=1',
  ])('xapi.url = %s is refused', (url) => {
    const p = onlyProblem(`[xapi]\nurl = "${url}"\n`);
    expect(p.key).toBe('xapi.url');
    expect(p.allowed).toContain('unix:/ABSOLUTE/PATH or https://HOST[:PORT]');
  });

  it.each(['unix:/var/lib/xcp/xapi', 'http://127.0.0.1:8080', 'http://localhost:80', 'http://[::1]:9000'])('xapi.url = %s is accepted', (url) => {
    expect(parseConfig(`[xapi]\nurl = "${url}"\n`, FILE).xapi.url).toBe(url);
  });

  it('a password written into the config is refused and never echoed', () => {
    const p = onlyProblem('[xapi]\npassword = "hunter2"\n');
    expect(p.key).toBe('xapi.password');
    expect(p.message).not.toContain('hunter2');
    expect(p.message).toContain('xapi.password_file');
  });

  it('collects every problem in one go', () => {
    const problems = problemsOf('[boot]\nparallelism = 0\nready = "x"\n[shutdown]\ndeadline = 5\n[log]\nlevel = 3\n');
    expect(problems.map((p) => p.key)).toEqual(['boot.parallelism', 'boot.ready', 'shutdown.deadline', 'log.level']);
    const err = (() => {
      try {
        parseConfig('[boot]\nparallelism = 0\n[log]\nlevel = 3\n', FILE);
      } catch (e) {
        return e as ConfigError;
      }
      return null;
    })();
    expect(err?.message).toMatch(/^2 problems in \/etc\/xen-guests\/config.toml:\n {2}boot.parallelism = 0/);
  });
});

describe('cross-field rules', () => {
  it('hard_reserve must be less than the deadline', () => {
    const p = onlyProblem('[shutdown]\ndeadline = 60\nhard_reserve = 60\n');
    expect(p.key).toBe('shutdown.hard_reserve');
    expect(p.message).toContain('must be less than shutdown.deadline (60)');
  });

  it('the default guest timeout must fit in deadline − reserve', () => {
    const p = onlyProblem('[shutdown]\ndeadline = 200\nhard_reserve = 60\nguest_timeout = 180\n');
    expect(p.message).toBe(
      'shutdown.guest_timeout = 180 in /etc/xen-guests/config.toml: must be at most shutdown.deadline - shutdown.hard_reserve = 200 - 60 = 140 seconds',
    );
    expect(parseConfig('[shutdown]\ndeadline = 200\nhard_reserve = 60\nguest_timeout = 140\n', FILE).shutdown.guestTimeout).toBe(140);
  });

  it('when the file does not set guest_timeout, the key it did set is named, beside the default it collides with', () => {
    const byDeadline = onlyProblem('[shutdown]\ndeadline = 20\nhard_reserve = 5\n');
    expect(byDeadline.key).toBe('shutdown.deadline');
    expect(byDeadline.message).toContain('shutdown.deadline = 20 in /etc/xen-guests/config.toml: leaves');
    expect(byDeadline.message).toContain('less than the built-in default shutdown.guest_timeout = 180');
    const byReserve = onlyProblem('[shutdown]\nhard_reserve = 800\n');
    expect(byReserve.key).toBe('shutdown.hard_reserve');
    expect(byReserve.message).not.toContain('shutdown.guest_timeout = 180 in');
  });

  it('https needs a password file', () => {
    const p = onlyProblem('[xapi]\nurl = "https://xcp.example"\n');
    expect(p.key).toBe('xapi.password_file');
    const ok = parseConfig('[xapi]\nurl = "https://xcp.example:443"\npassword_file = "/etc/xen-guests/password"\n', FILE);
    expect(ok.xapi.passwordFile).toBe('/etc/xen-guests/password');
  });

  it('guest tables are for xl hosts only', () => {
    const p = onlyProblem('[guests."web"]\non_start = "start"\n');
    expect(p.key).toBe('guests."web"');
    expect(p.allowed).toContain('toolstack.kind = "xl" only');
  });
});

describe('[guests."NAME"] tables (xl hosts)', () => {
  const xl = '[toolstack]\nkind = "xl"\n';

  it('accepts the other_config keys without prefix plus the native ones, as text', () => {
    const c = parseConfig(
      `${xl}[guests."db"]\nauto_poweron = true\non_stop = "poweroff"\nshutdown_timeout = 30\nready = "agent"\norder = -2\nstart_delay = 10\nmaintenance = "disk swap"\nauto_poweroff = false\n`,
      FILE,
    );
    expect(c.guests.db).toEqual({ auto_poweron: 'true', on_stop: 'poweroff', shutdown_timeout: '30', ready: 'agent', order: '-2', start_delay: '10', maintenance: 'disk swap' });
  });

  it('refuses suspend, bad values and unknown keys, naming the guest', () => {
    const problems = problemsOf(`${xl}[guests."db"]\non_stop = "suspend"\nshutdown_timeout = -1\nonstart = "start"\nauto_poweron = "yes"\n`);
    expect(problems.map((p) => p.key)).toEqual(['guests."db".on_stop', 'guests."db".shutdown_timeout', 'guests."db".onstart', 'guests."db".auto_poweron']);
    expect(problems[0]!.message).toContain('suspend is refused: resuming an old memory image against disks that changed since corrupts data');
    expect(problems[1]!.allowed).toBe('must be a whole number of seconds from 1 to 86400');
    expect(problems[2]!.message).toContain('did you mean "on_start"?');
  });

  it('a guest entry that is not a table', () => {
    expect(onlyProblem(`${xl}[guests]\ndb = "start"\n`).key).toBe('guests."db"');
  });
});

describe('files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xg-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads a named file', async () => {
    const path = join(dir, 'ok.toml');
    await writeFile(path, '[boot]\nparallelism = 2\n');
    const c = await loadConfigFile(path);
    expect(c.boot.parallelism).toBe(2);
    expect(c.source).toBe(path);
  });

  it('a named file that is missing is an error naming it', async () => {
    const path = join(dir, 'missing.toml');
    await expect(loadConfigFile(path)).rejects.toThrow(`${path}: cannot read the config file (ENOENT)`);
  });

  it('a bad file is refused with its path in the problems', async () => {
    const path = join(dir, 'bad.toml');
    await writeFile(path, '[shutdown]\ndeadline = "soon"\n');
    const err = await loadConfigFile(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems[0]!.message).toBe(`shutdown.deadline = "soon" in ${path}: must be a whole number of seconds from 10 to 86400`);
  });

  it('null means the default path, or the built-in defaults when it does not exist', async () => {
    const c = await loadConfigFile(null);
    if (existsSync(DEFAULT_CONFIG_PATH)) expect(c.source).toBe(DEFAULT_CONFIG_PATH);
    else expect(c).toEqual(defaultConfig());
  });

  describe('readPasswordFile', () => {
    it('reads an owner-only file and drops one trailing newline', async () => {
      const path = join(dir, 'pw-ok');
      await writeFile(path, 's3cret pass\n', { mode: 0o600 });
      await chmod(path, 0o600);
      expect(await readPasswordFile(path)).toBe('s3cret pass');
    });

    it.each(['644', '640', '604', '620'])('refuses mode 0%s', async (octal) => {
      const mode = parseInt(octal, 8);
      const path = join(dir, `pw-${mode.toString(8)}`);
      await writeFile(path, 'secret\n');
      await chmod(path, mode);
      const err = await readPasswordFile(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      const message = (err as ConfigError).problems[0]!.message;
      expect(message).toContain(`is open to group or others (mode 0${mode.toString(8)}); allowed: owner only — chmod 600 ${path}`);
      expect(message).not.toContain('secret');
    });

    it('refuses an empty file, a missing file and a directory', async () => {
      const empty = join(dir, 'pw-empty');
      await writeFile(empty, '\n');
      await chmod(empty, 0o600);
      await expect(readPasswordFile(empty)).rejects.toThrow(/is empty/);
      await expect(readPasswordFile(join(dir, 'pw-none'))).rejects.toThrow(/cannot be read \(ENOENT\)/);
      const sub = join(dir, 'pw-dir');
      await mkdir(sub, { mode: 0o700 });
      await expect(readPasswordFile(sub)).rejects.toThrow(/must be a regular file/);
    });
  });
});

describe('applyOverrides', () => {
  it('applies valid flags and leaves the input config untouched', () => {
    const base = defaultConfig();
    const c = applyOverrides(base, { xapi: 'http://127.0.0.1:4444', stateDir: '/tmp/xg-state', onSigterm: 'leave-guests' });
    expect(c.xapi.url).toBe('http://127.0.0.1:4444');
    expect(c.stateDir).toBe('/tmp/xg-state');
    expect(c.shutdown.onSigterm).toBe('leave-guests');
    expect(base).toEqual(defaultConfig());
  });

  it('no flags, no change', () => {
    expect(applyOverrides(defaultConfig(), {})).toEqual(defaultConfig());
  });

  it('the core takes only an absolute --state-dir (the composition root resolves a relative one first)', () => {
    expect(() => applyOverrides(defaultConfig(), { stateDir: 'state' })).toThrow(/--state-dir "state": must be a directory path/);
  });

  it('bad flags are named, with the value and what is allowed', () => {
    const err = (() => {
      try {
        applyOverrides(defaultConfig(), { xapi: 'ftp://x', onSigterm: 'stop', stateDir: '' });
      } catch (e) {
        return e as ConfigError;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.problems.map((p) => p.message)).toEqual([
      expect.stringMatching(/^--xapi "ftp:\/\/x": must be unix:\/ABSOLUTE\/PATH or https:\/\/HOST\[:PORT\]/),
      '--state-dir "": must be a directory path',
      '--on-sigterm "stop": must be one of auto, stop-guests, leave-guests',
    ]);
  });

  it('an https --xapi needs a password file in the config', () => {
    expect(() => applyOverrides(defaultConfig(), { xapi: 'https://xcp.example' })).toThrow(/an https endpoint needs xapi.password_file/);
    const withPassword = { ...defaultConfig(), xapi: { ...defaultConfig().xapi, passwordFile: '/etc/xen-guests/password' } };
    expect(applyOverrides(withPassword, { xapi: 'https://xcp.example' }).xapi.url).toBe('https://xcp.example');
  });
});

describe('xl guest tables: the config file path', () => {
  it('accepts an absolute path and refuses a relative one, naming the key', async () => {
    const { parseConfig: parse, ConfigError: CE } = await import('../../../src/core/config.js');
    const ok = parse('[toolstack]\nkind = "xl"\n[guests."web"]\nconfig = "/etc/xen/web.cfg"\n', 'test.toml');
    expect(ok.guests.web?.config).toBe('/etc/xen/web.cfg');
    try {
      parse('[toolstack]\nkind = "xl"\n[guests."web"]\nconfig = "web.cfg"\n', 'test.toml');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(CE);
      expect((err as Error).message).toContain('guests."web".config = "web.cfg"');
      expect((err as Error).message).toContain('absolute path');
    }
  });
});
