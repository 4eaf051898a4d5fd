// Is the host going down, or is only this service being stopped? Asked of systemd itself: a SIGTERM
// looks the same either way, and guessing wrong either stops every guest on `systemctl restart`
// or leaves them running into a power-off.
//
// Two independent signs, either is enough: the manager's state is `stopping` (shutdown.target is
// being reached), or a job to start one of the shutdown targets is queued (seen slightly earlier,
// while systemd is still stopping units ordered before it). systemctl talks to PID 1 over its
// private socket, which keeps answering during shutdown even after dbus has stopped.

import { execFile } from 'node:child_process';

export interface HostState {
  down: boolean;
  /** Why, in words fit for the log: what systemd answered, or why it could not be asked. */
  why: string;
}

export interface HostStateOptions {
  /** The systemctl binary (default: found on PATH). */
  systemctl?: string;
  /** Bound on each systemctl run, ms (default 5000). */
  timeoutMs?: number;
}

/** Targets whose queued start means the machine is going down. */
export const SHUTDOWN_TARGETS = ['shutdown.target', 'poweroff.target', 'reboot.target', 'halt.target', 'kexec.target'] as const;

/** States `systemctl is-system-running` prints (systemd 219 … 256). */
const MANAGER_STATES = new Set(['initializing', 'starting', 'running', 'degraded', 'maintenance', 'stopping', 'offline', 'unknown']);

export async function isHostGoingDown(options: HostStateOptions = {}): Promise<HostState> {
  const systemctl = options.systemctl ?? 'systemctl';
  const timeoutMs = options.timeoutMs ?? 5000;
  const [state, jobs] = await Promise.all([
    run(systemctl, ['is-system-running'], timeoutMs),
    run(systemctl, ['list-jobs', '--no-legend', '--no-pager', '--full'], timeoutMs),
  ]);
  return decide(state, jobs, systemctl);
}

export interface CommandResult {
  /** Exit code; null when it did not run to completion (missing, killed at the bound). */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the command could not be run or was killed. */
  error: string | null;
}

/** Pure: the answer from the two commands' results (exported for tests with recorded output). */
export function decide(state: CommandResult, jobs: CommandResult, systemctl = 'systemctl'): HostState {
  const manager = parseSystemState(state.stdout);
  if (manager === 'stopping') return { down: true, why: 'systemd manager state is "stopping"' };

  const shutdownJobs = jobs.code === 0 ? parseShutdownJobs(jobs.stdout) : [];
  if (shutdownJobs.length > 0) {
    return { down: true, why: `systemd has queued ${shutdownJobs.map((j) => `${j.type} ${j.unit} (job ${j.id})`).join(', ')}` };
  }

  if (manager === null || manager === 'offline' || manager === 'unknown') {
    const detail = state.error ?? (firstLine(state.stderr) || (state.stdout.trim() ? `answered "${state.stdout.trim()}"` : `exit code ${state.code}`));
    return {
      down: false,
      why: `cannot ask systemd whether the host is going down (${systemctl} is-system-running: ${detail}); assuming it is not — use --on-sigterm=stop-guests on hosts without systemd`,
    };
  }
  if (jobs.code !== 0) {
    const detail = jobs.error ?? (firstLine(jobs.stderr) || `exit code ${jobs.code}`);
    return { down: false, why: `systemd manager state is "${manager}"; its job list could not be read (${detail}); assuming the host is not going down` };
  }
  return { down: false, why: `systemd manager state is "${manager}" and no shutdown, poweroff, reboot, halt or kexec job is queued` };
}

/** The manager state from `systemctl is-system-running` output, or null when it is not one. */
export function parseSystemState(stdout: string): string | null {
  const word = stdout.trim().split(/\s+/)[0] ?? '';
  return MANAGER_STATES.has(word) ? word : null;
}

export interface Job {
  id: string;
  unit: string;
  type: string;
  state: string;
}

/**
 * Jobs that start a shutdown target, from `systemctl list-jobs --no-legend` output. Lines are
 * "ID UNIT TYPE STATE"; newer systemd may prefix a status glyph, so fields are found from the right.
 */
export function parseShutdownJobs(stdout: string): Job[] {
  const jobs: Job[] = [];
  for (const line of stdout.split('\n')) {
    const fields = line.trim().split(/\s+/).filter((f) => /[\w.@-]/.test(f));
    if (fields.length < 4) continue;
    const [id, unit, type, state] = fields.slice(-4) as [string, string, string, string];
    if (!/^\d+$/.test(id)) continue;
    if (type === 'start' && (SHUTDOWN_TARGETS as readonly string[]).includes(unit)) jobs.push({ id, unit, type, state });
  }
  return jobs;
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.trim() ?? '';
}

function run(command: string, args: string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, killSignal: 'SIGKILL', env: { ...process.env, SYSTEMD_COLORS: '0', LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (!err) {
        resolve({ code: 0, stdout, stderr, error: null });
        return;
      }
      const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
      if (e.code === 'ENOENT') resolve({ code: null, stdout: '', stderr: '', error: `${command} not found` });
      else if (e.killed) resolve({ code: null, stdout, stderr, error: `no answer within ${timeoutMs} ms` });
      else if (typeof e.code === 'number') resolve({ code: e.code, stdout, stderr, error: null });
      else resolve({ code: null, stdout, stderr, error: e.message });
    });
  });
}
