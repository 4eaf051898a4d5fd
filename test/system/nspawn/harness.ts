// A real systemd (Debian bookworm, systemd 252) as PID 1 in systemd-nspawn, for system tests of the
// unit file and the daemon. The rootfs is built once with debootstrap and cached; each run mounts an
// overlay on it (so the cache stays pristine), installs unit files, boots, and reads the journal
// after the container has powered itself off. Needs root.

import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

export const PROJECT = resolve(import.meta.dirname, '../../..');
export const CACHE = process.env.XEN_GUESTS_NSPAWN_CACHE ?? '/var/tmp/xen-guests-system';
const SUITE = 'bookworm';
const MIRROR = process.env.XEN_GUESTS_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
const PACKAGES = ['systemd', 'systemd-sysv', 'dbus'];
const STAMP = '.xen-guests-rootfs';

export function log(line: string): void {
  process.stdout.write(`[nspawn-test] ${line}\n`);
}

/** Why this machine cannot run the test, or null when it can. */
export function cannotRun(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (systemd-nspawn, mount)';
  if (process.platform !== 'linux') return 'needs Linux';
  if (!existsSync('/proc/self/ns/pid')) return 'needs PID namespaces';
  return null;
}

function have(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** systemd-nspawn and debootstrap, installed with apt-get when missing. */
export function ensureTools(): void {
  if (have('systemd-nspawn') && have('debootstrap')) return;
  log('installing systemd-container and debootstrap with apt-get');
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'systemd-container', 'debootstrap'], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** The cached rootfs, built (~1 min) when missing or built with another package list. */
export async function ensureRootfs(): Promise<string> {
  const rootfs = join(CACHE, `rootfs-${SUITE}`);
  const stamp = join(rootfs, STAMP);
  if (existsSync(stamp) && (await readFile(stamp, 'utf8')).trim() === PACKAGES.join(' ')) return rootfs;
  await mkdir(CACHE, { recursive: true });
  const partial = `${rootfs}.partial`;
  await rm(partial, { recursive: true, force: true });
  log(`building a ${SUITE} rootfs with debootstrap in ${partial} (cached for later runs)`);
  const started = Date.now();
  execFileSync('debootstrap', ['--variant=minbase', `--include=${PACKAGES.join(',')}`, SUITE, partial, MIRROR], { stdio: ['ignore', 'ignore', 'inherit'] });
  await writeFile(join(partial, STAMP), PACKAGES.join(' ') + '\n');
  await rm(rootfs, { recursive: true, force: true });
  await rename(partial, rootfs);
  log(`rootfs ready after ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return rootfs;
}

export interface Container {
  /** The merged root the container sees; write files here before boot(). */
  root: string;
  /** Where this run keeps its files (overlay upper dir, console log). */
  runDir: string;
  /** Write a file into the container's root (parents created). */
  put(path: string, content: string, mode?: number): Promise<void>;
  /** Enable a unit the way `systemctl enable` does for WantedBy=multi-user.target. */
  enable(unit: string): Promise<void>;
  /** Boot, wait until the container powers itself off (bounded), return the console lines. */
  boot(options: { binds: string[]; timeoutMs: number }): Promise<{ console: string[]; exitCode: number | null; seconds: number }>;
  /** journalctl over the container's persistent journal. */
  journal(args: string[]): string;
  /** Unmount and remove the run (kept when keep is true, for a post-mortem). */
  dispose(keep: boolean): Promise<void>;
}

export async function createContainer(rootfs: string, name: string): Promise<Container> {
  const runDir = await mkdtemp(join(CACHE, `run-${name}-`));
  const upper = join(runDir, 'upper');
  const work = join(runDir, 'work');
  const root = join(runDir, 'root');
  await Promise.all([mkdir(upper), mkdir(work), mkdir(root)]);
  let mounted = false;
  try {
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${rootfs},upperdir=${upper},workdir=${work}`, root], { stdio: 'pipe' });
    mounted = true;
  } catch (err) {
    // No overlayfs here: a full copy (slower, but the cache still stays untouched).
    log(`overlay mount failed (${(err as Error).message.trim()}); copying the rootfs instead`);
    await cp(rootfs, root, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  }

  const put = async (path: string, content: string, mode = 0o644) => {
    const target = join(root, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content, { mode });
  };

  // A container needs no getty, network wait or hostname service; journal to disk for reading after.
  await put('etc/hostname', `${name}\n`);
  await put('etc/systemd/journald.conf.d/persistent.conf', '[Journal]\nStorage=persistent\n');
  await mkdir(join(root, 'var/log/journal'), { recursive: true });
  for (const unit of ['systemd-networkd-wait-online.service', 'getty@tty1.service', 'console-getty.service', 'systemd-timesyncd.service']) {
    await rm(join(root, 'etc/systemd/system', unit), { force: true });
    await symlink('/dev/null', join(root, 'etc/systemd/system', unit));
  }

  return {
    root,
    runDir,
    put,
    async enable(unit) {
      const wants = join(root, 'etc/systemd/system/multi-user.target.wants');
      await mkdir(wants, { recursive: true });
      await rm(join(wants, unit), { force: true });
      await symlink(`/etc/systemd/system/${unit}`, join(wants, unit));
    },
    boot({ binds, timeoutMs }) {
      const args = ['-D', root, '--register=no', '--keep-unit', '-q', '--boot', '--console=pipe', `--machine=${name}`, ...binds];
      const started = Date.now();
      return new Promise((resolvePromise) => {
        const proc = spawn('systemd-nspawn', args, { stdio: ['ignore', 'pipe', 'pipe'] });
        const lines: string[] = [];
        let pending = '';
        const onData = (d: Buffer) => {
          pending += d.toString();
          const parts = pending.split('\n');
          pending = parts.pop() ?? '';
          for (const raw of parts) {
            const line = `[${((Date.now() - started) / 1000).toFixed(2).padStart(6)}] ${raw.replace(/\r$/, '')}`;
            lines.push(line);
            if (process.env.XEN_GUESTS_NSPAWN_VERBOSE) log(line);
          }
        };
        proc.stdout.on('data', onData);
        proc.stderr.on('data', onData);
        const timer = setTimeout(() => {
          lines.push(`[harness] container still running after ${timeoutMs} ms: killing it`);
          proc.kill('SIGKILL');
        }, timeoutMs);
        proc.on('close', (code) => {
          clearTimeout(timer);
          if (pending) lines.push(pending);
          resolvePromise({ console: lines, exitCode: code, seconds: (Date.now() - started) / 1000 });
        });
      });
    },
    journal(args) {
      return execFileSync('journalctl', ['-D', join(root, 'var/log/journal'), '--no-pager', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
    },
    async dispose(keep) {
      if (mounted) {
        await new Promise<void>((done) => execFile('umount', [root], () => done()));
      }
      if (keep) {
        log(`kept for a post-mortem: ${runDir} (overlay upper dir: ${upper})`);
        return;
      }
      await rm(runDir, { recursive: true, force: true });
    },
  };
}
