// The Toolstack for plain Xen hosts (xl / libxl). xenstore, spoken directly over xenstored's socket,
// is the source of truth for the domain list, what guests advertise and wrote, and shutdown
// requests; `xl` (a bounded child process) does what only libxl can: create, destroy, trigger.
// Guests that are not running come from their xl config files; policy keys set by enable/disable/
// maintenance live in an overlay file in the state directory (xl has no VM.other_config).
//
// Shutdown semantics proven on a real hypervisor (test/system/xen): a guest clears
// control/shutdown as soon as it accepts the request, even if it then never powers off, so the
// acknowledgement is not the end: only the domain going away is.

import { readFile } from 'node:fs/promises';
import os from 'node:os';
import type { Logger } from '../log.js';
import { createXenstoreClient, type XenstoreClient } from '../xenstore/client.js';
import { retry, sleep } from '../retry.js';
import {
  type CleanShutdownHandle,
  type Guest,
  type HostInfo,
  type Toolstack,
  type WaitOptions,
} from './types.js';
import { createXlRunner, parseXlList, xlComplaint, type XlRunner } from './xl/command.js';
import { domainPath, listDomids, readDomain, type DomainRecord } from './xl/domains.js';
import { discoverGuestConfigs, type GuestConfigFile } from './xl/guest-configs.js';
import { configUuid, guestFromConfig, guestFromDomain, stableUuid } from './xl/guest-record.js';
import { createOverlayStore, type Overlay } from './xl/overlay.js';
import { createWatchHub } from './xl/watch-hub.js';
import { translateXlError, xlFailure } from './xl/meanings.js';
import { speakingMeanings } from './translate.js';
import { ToolstackError } from '../core/meanings.js';
import { monotonicNow } from '../core/clock.js';
import { readHostMaintenance } from '../state/host-maintenance.js';

export interface XlToolstackOptions {
  /** The config's per-guest tables (name -> keys; `config` names the xl file), for finding guest configs. */
  guestTables: Record<string, Record<string, string>>;
  stateDir: string;
  log: Logger;
  /** xenstored's socket; default $XENSTORED_PATH, /run/xenstored/socket, /var/run/xenstored/socket. */
  xenstorePath?: string;
  /** The xl binary; default `xl` on PATH. */
  xlPath?: string;
  /** xendomains' start-at-boot directory; default /etc/xen/auto. */
  autoDir?: string;
  /** Where /etc/xen/NAME.cfg is looked for; default /etc/xen. */
  configDir?: string;
  /** Deadline of one xenstore request, ms; default 10 s. */
  xenstoreTimeoutMs?: number;
  /** How long a shut-down domain may linger unreaped before we reap it, ms; default 3 s. */
  reapGraceMs?: number;
  /** Bound on one `xl create` attempt, ms (a hung one is killed and, time permitting, retried); default 120 s. */
  xlCreateTimeoutMs?: number;
}

/** Bound on the xl calls that have no caller deadline (list, info, trigger). */
const XL_QUICK_MS = 30_000;
const CACHE_MS = 1_000;
/** Backoff of the xl backend's own retries (a timed-out xl, xenstored briefly not answering). */
const XL_RETRY = { initialMs: 100, maxMs: 2_000 };

export function createXlToolstack(opts: XlToolstackOptions): Toolstack {
  const log = opts.log.child({ toolstack: 'xl' });
  const xs: XenstoreClient = createXenstoreClient({ path: opts.xenstorePath, requestTimeoutMs: opts.xenstoreTimeoutMs ?? 10_000, log });
  const xl: XlRunner = createXlRunner(opts.xlPath ?? 'xl');
  const overlay = createOverlayStore(opts.stateDir);
  const hub = createWatchHub(xs, log);
  const autoDir = opts.autoDir ?? '/etc/xen/auto';
  const configDir = opts.configDir ?? '/etc/xen';
  const reapGraceMs = opts.reapGraceMs ?? 3_000;
  const xlCreateTimeoutMs = opts.xlCreateTimeoutMs ?? 120_000;

  /** Run `fn` again on its transient failures (xl timed out, xenstored did not answer) until `deadline`. */
  function persist<T>(what: string, fn: () => Promise<T>, deadline: number): Promise<T> {
    return retry(
      () =>
        fn().catch((err: unknown) => {
          throw translateXlError(err);
        }),
      {
        ...XL_RETRY,
        deadline,
        now: monotonicNow,
        onRetry: (err, attempt, delayMs) => log.warn({ err: (err as Error).message, attempt: attempt + 1, retryInMs: Math.round(delayMs) }, `${what} failed for a passing reason; trying again`),
      },
    );
  }

  /** Every uuid we have shown for a guest -> its domain name (the real key on xl). */
  const aliases = new Map<string, string>();
  /** The last record seen per name: a domain that went away is reported Halted from it. */
  const lastSeen = new Map<string, Guest>();
  /** Operations this process has under way, per guest name. */
  const inFlight = new Map<string, Record<string, string>>();
  let hostUuidCache: string | null = null;

  // ------------------------------------------------------------ reading

  // Watch events can come by the hundred during a boot; config files and the overlay are re-read
  // at most once per CACHE_MS, and problems with them are logged once per distinct message.
  const warned = new Set<string>();
  let configCache: { at: number; value: Promise<Map<string, GuestConfigFile>> } | null = null;
  let overlayCache: { at: number; value: Promise<Overlay> } | null = null;

  function configs(): Promise<Map<string, GuestConfigFile>> {
    if (configCache && monotonicNow() - configCache.at < CACHE_MS) return configCache.value;
    const value = discoverGuestConfigs({ autoDir, configDir, tables: opts.guestTables, log }).then((found) => {
      for (const p of found.problems) {
        if (warned.has(p.message)) continue;
        warned.add(p.message);
        log.warn({ file: p.path }, p.message);
      }
      return found.byName;
    });
    configCache = { at: monotonicNow(), value };
    return value;
  }

  function readOverlayOrEmpty(): Promise<Overlay> {
    if (overlayCache && monotonicNow() - overlayCache.at < CACHE_MS) return overlayCache.value;
    const value = overlay.read().catch((err: unknown) => {
      // A broken overlay must not stop the host's guests: named, logged, and treated as empty.
      const message = (err as Error).message;
      if (!warned.has(message)) {
        warned.add(message);
        log.error({ err }, message);
      }
      return { version: 1 as const, guests: {} };
    });
    overlayCache = { at: monotonicNow(), value };
    return value;
  }

  async function editOverlay(name: string, edit: Parameters<typeof overlay.update>[1]): Promise<void> {
    await overlay.update(name, edit);
    overlayCache = null;
  }

  async function hostUuid(): Promise<string> {
    if (hostUuidCache) return hostUuidCache;
    const id = (await readFile('/etc/machine-id', 'utf8').catch(() => '')).trim();
    hostUuidCache = /^[0-9a-f]{32}$/.test(id)
      ? `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`
      : stableUuid(`host:${os.hostname()}`);
    return hostUuidCache;
  }

  async function runningDomains(): Promise<DomainRecord[]> {
    const ids = await listDomids(xs);
    const records = await Promise.all(ids.map((id) => readDomain(xs, id)));
    return records.filter((r): r is DomainRecord => r !== null);
  }

  /** Paused domains by name, from `xl list` (xenstore cannot tell); empty when xl fails. */
  async function pausedNames(): Promise<Set<string>> {
    try {
      const r = await xl.run(['list'], monotonicNow() + XL_QUICK_MS);
      if (r.code !== 0) return new Set();
      return new Set(parseXlList(r.stdout).filter((e) => e.state.includes('p')).map((e) => e.name));
    } catch {
      return new Set();
    }
  }

  function remember(g: Guest): Guest {
    aliases.set(g.uuid, g.name);
    lastSeen.set(g.name, g);
    return g;
  }

  async function listGuests(withPauseState: boolean): Promise<Guest[]> {
    const [domains, cfgs, ov, host, paused] = await Promise.all([
      runningDomains(),
      configs(),
      readOverlayOrEmpty(),
      hostUuid(),
      withPauseState ? pausedNames() : Promise.resolve(new Set<string>()),
    ]);
    const out: Guest[] = [];
    const running = new Set<string>();
    for (const d of domains) {
      running.add(d.name);
      const cfg = cfgs.get(d.name);
      const g = guestFromDomain(d, cfg, { hostUuid: host, overlay: ov.guests[d.name], inFlight: inFlight.get(d.name) ?? {}, paused: paused.has(d.name) });
      if (cfg) aliases.set(configUuid(cfg), d.name); // the same guest under its config identity
      out.push(remember(g));
    }
    for (const cfg of cfgs.values()) {
      if (running.has(cfg.name)) continue;
      out.push(remember(guestFromConfig(cfg, { hostUuid: host, overlay: ov.guests[cfg.name], inFlight: inFlight.get(cfg.name) ?? {} })));
    }
    return out;
  }

  const domidCache = new Map<string, number>();

  /** The domid currently carrying this name, or null when it is not running. */
  async function domidOf(name: string): Promise<number | null> {
    const cached = domidCache.get(name);
    if (cached !== undefined && (await xs.readOrNull(`${domainPath(cached)}/name`)) === name) return cached;
    domidCache.delete(name);
    const ids = await listDomids(xs);
    const names = await Promise.all(ids.map((id) => xs.readOrNull(`${domainPath(id)}/name`)));
    names.forEach((n, i) => {
      if (n !== null) domidCache.set(n, ids[i]!);
    });
    const i = names.findIndex((n) => n === name);
    return i < 0 ? null : ids[i]!;
  }

  /** One guest by name, fresh, without asking xl (used on every watch event). */
  async function guestByName(name: string): Promise<Guest | null> {
    const [domid, cfgs, ov, host] = await Promise.all([domidOf(name), configs(), readOverlayOrEmpty(), hostUuid()]);
    const cfg = cfgs.get(name);
    const ctx = { hostUuid: host, overlay: ov.guests[name], inFlight: inFlight.get(name) ?? {} };
    if (domid !== null) {
      const d = await readDomain(xs, domid);
      if (d) return remember(guestFromDomain(d, cfg, ctx));
    }
    if (cfg) return remember(guestFromConfig(cfg, ctx));
    // Gone without a config: it was a running domain that has ended; on xl that is "Halted".
    const last = lastSeen.get(name);
    if (!last) return null;
    return { ...last, powerState: 'Halted', residentOn: null, currentOperations: { ...ctx.inFlight }, xenstoreData: {}, cleanShutdown: { able: false, reason: 'not running' } };
  }

  async function nameOf(uuid: string): Promise<string | null> {
    const known = aliases.get(uuid.toLowerCase());
    if (known) return known;
    await listGuests(false);
    return aliases.get(uuid.toLowerCase()) ?? null;
  }

  function mark(name: string, op: string, operation: string): () => void {
    const ops = inFlight.get(name) ?? {};
    ops[op] = operation;
    inFlight.set(name, ops);
    return () => {
      const now = inFlight.get(name);
      if (!now) return;
      delete now[op];
      if (Object.keys(now).length === 0) inFlight.delete(name);
    };
  }

  // ------------------------------------------------------------ waiting

  /**
   * Resolve when check() says done, re-checking on every change of the watched paths (and of the
   * domain's own subtree once it has a domid); 'timeout' at the deadline or when aborted.
   */
  function waitUntil<T>(
    name: string,
    check: (recheckIn: (ms: number) => void) => Promise<T | null>,
    o: WaitOptions,
  ): Promise<T | 'timeout'> {
    return new Promise((resolve) => {
      let settled = false;
      let running = false;
      let again = false;
      const unsubs: (() => void)[] = [];
      let domainWatch: { domid: number; off: () => void } | null = null;
      const rechecks = new Set<NodeJS.Timeout>();
      const recheckIn = (ms: number): void => {
        if (rechecks.size > 0) return; // one pending re-check is enough
        const t = setTimeout(() => {
          rechecks.delete(t);
          void evaluate();
        }, ms);
        rechecks.add(t);
      };
      const finish = (v: T | 'timeout'): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        for (const t of rechecks) clearTimeout(t);
        o.signal?.removeEventListener('abort', onAbort);
        for (const u of unsubs) u();
        domainWatch?.off();
        resolve(v);
      };
      const onAbort = (): void => finish('timeout');
      // setTimeout cannot take more than 2^31-1 ms (it would fire at once): far deadlines get no timer.
      const remaining = Math.max(0, o.deadline - monotonicNow());
      const timer = remaining < 2 ** 31 - 1 ? setTimeout(() => finish('timeout'), remaining) : undefined;
      o.signal?.addEventListener('abort', onAbort);
      if (o.signal?.aborted) return finish('timeout');

      const evaluate = async (): Promise<void> => {
        if (settled) return;
        if (running) {
          again = true;
          return;
        }
        running = true;
        try {
          do {
            again = false;
            const v = await check(recheckIn);
            if (v !== null) return finish(v);
            await followDomain();
          } while (again && !settled);
        } catch (err) {
          log.debug({ err, guest: name }, 'xl wait: check failed; waiting for the next event');
        } finally {
          running = false;
        }
      };
      // Changes inside the domain (control/, data/, vm-data/) come through its own subtree watch.
      const followDomain = async (): Promise<void> => {
        const domid = await domidOf(name);
        if (domainWatch?.domid === domid) return;
        domainWatch?.off();
        domainWatch = null;
        if (domid === null || settled) return;
        const off = await hub.subscribe(domainPath(domid), () => void evaluate());
        if (settled) off();
        else domainWatch = { domid, off };
      };
      for (const special of ['@introduceDomain', '@releaseDomain']) {
        hub
          .subscribe(special, () => void evaluate())
          .then((off) => (settled ? off() : unsubs.push(off)))
          .catch(() => undefined);
      }
      void evaluate();
    });
  }

  /** Until the domain with this name is gone (or lingers shut down, and is reaped), or the deadline. */
  async function waitGone(name: string, domid: number, o: WaitOptions): Promise<'gone' | 'timeout'> {
    let shutdownSince: number | null = null;
    let lastStateCheck = -Infinity; // never: monotonic time starts near 0 at boot
    return waitUntil(
      name,
      async (recheckIn) => {
        const current = await xs.readOrNull(`${domainPath(domid)}/name`);
        if (current !== name) return 'gone' as const;
        // A domain that shut down but whose xl monitor is gone stays in state "s" for ever; it
        // has already stopped by itself, so reaping it with xl destroy loses nothing. xl is asked
        // at most once a second, however many events arrive.
        const sinceCheck = monotonicNow() - lastStateCheck;
        if (sinceCheck < 1_000) {
          recheckIn(1_000 - sinceCheck);
          return null;
        }
        lastStateCheck = monotonicNow();
        const state = await domainState(name);
        if (!state?.includes('s')) {
          shutdownSince = null;
          return null;
        }
        shutdownSince ??= monotonicNow();
        if (monotonicNow() - shutdownSince < reapGraceMs) {
          recheckIn(reapGraceMs);
          return null;
        }
        log.info({ guest: name, domid }, `${name}: shut down but not reaped by its xl monitor; reaping it with xl destroy`);
        await xl.run(['destroy', String(domid)], monotonicNow() + XL_QUICK_MS).catch(() => undefined);
        recheckIn(1_000);
        return null;
      },
      o,
    );
  }

  async function domainState(name: string): Promise<string | null> {
    try {
      const r = await xl.run(['list', name], monotonicNow() + XL_QUICK_MS);
      if (r.code !== 0) return null;
      return parseXlList(r.stdout).find((e) => e.name === name)?.state ?? null;
    } catch {
      return null;
    }
  }

  // ------------------------------------------------------------ acting

  async function requireRunning(guest: Guest): Promise<number> {
    const domid = await domidOf(guest.name);
    if (domid === null) throw xlFailure('wrong-state', 'XL_NOT_RUNNING', [guest.name], `${guest.name} is not running`);
    return domid;
  }

  const toolstack: Toolstack = {
    kind: 'xl',

    async waitUntilReady({ deadline, signal, onWaiting }) {
      const why = (err: unknown): string => (err instanceof Error ? err.message : String(err));
      const probe = async (): Promise<void> => {
        await xs.connected(Math.max(1, Math.min(2_000, (deadline - monotonicNow()) / 3)));
        await xs.read('/local/domain/0/name');
        const r = await xl.run(['list'], Math.min(deadline, monotonicNow() + XL_QUICK_MS));
        if (r.code !== 0) throw new Error(`xl list failed: ${xlComplaint(r)}`);
      };
      try {
        // Every failure is worth waiting out here: xenstored and xl come up during the host's boot.
        await retry(probe, { initialMs: 250, maxMs: 2_000, deadline, now: monotonicNow, signal, retryable: () => true, onRetry: (err) => onWaiting?.(`waiting for xenstored/xl: ${why(err)}`) });
      } catch (err) {
        const last = why(err);
        const message = signal?.aborted ? `gave up waiting for the xl toolstack: ${last}` : `the xl toolstack did not answer before the deadline: ${last}`;
        throw xlFailure('transient', 'TOOLSTACK_NOT_READY', [last], message);
      }
    },

    async host(): Promise<HostInfo> {
      const uuid = await hostUuid();
      let freeMemory = 0;
      try {
        const r = await xl.run(['info'], monotonicNow() + XL_QUICK_MS);
        const m = /^free_memory\s*:\s*(\d+)/m.exec(r.stdout);
        if (m) freeMemory = Number(m[1]) * 1024 * 1024;
        else log.warn({ output: r.stdout.slice(0, 300) }, 'xl info printed no free_memory; assuming 0 free');
      } catch (err) {
        log.warn({ err }, 'xl info failed; assuming 0 free memory');
      }
      const maintenance = await readHostMaintenance(opts.stateDir);
      return { uuid, name: os.hostname(), freeMemory, poolSize: 1, poolAutoPoweron: false, maintenance };
    },

    guests: () => persist('listing the guests', () => listGuests(true), monotonicNow() + XL_QUICK_MS),

    async guest(uuid) {
      return persist(
        'reading a guest',
        async () => {
          const name = await nameOf(uuid);
          return name === null ? null : guestByName(name);
        },
        monotonicNow() + XL_QUICK_MS,
      );
    },

    // Disks on xl are dom0's own files and devices: there is no storage object to wait for or plug.
    storageOf: async (guests) => new Map(guests.map((g) => [g.uuid, []])),
    async plugStorage(srUuid) {
      throw new ToolstackError('refused', 'XL_NO_STORAGE_OBJECTS', [srUuid], 'plain Xen has no SR to plug');
    },

    async start(guest, o) {
      configCache = null; // a start acts on the config file as it is now, not as it was a second ago
      const cfg = (await configs()).get(guest.name);
      if (!cfg) {
        if ((await domidOf(guest.name)) === null) {
          throw xlFailure('gone', 'XL_NO_SUCH_GUEST', [guest.name], `${guest.name}: no xl config file and no domain any more (deleted?)`);
        }
        throw xlFailure('refused', 'XL_NO_CONFIG', [guest.name], `${guest.name}: no xl config file known (not in ${autoDir}, no [guests."${guest.name}"] config, no ${configDir}/${guest.name}.cfg)`);
      }
      const blocked = (await readOverlayOrEmpty()).guests[guest.name]?.blockedOperations.start;
      if (blocked !== undefined) throw xlFailure('refused', 'XL_START_BLOCKED', [guest.name, blocked], `${guest.name}: start is blocked (${blocked})`);
      if ((await persist(`${guest.name}: reading its domain`, () => domidOf(guest.name), o.deadline)) !== null) {
        throw xlFailure('wrong-state', 'XL_ALREADY_RUNNING', [guest.name], `${guest.name} is already running`);
      }
      const args = ['create', cfg.path];
      // Keep the identity the engine knows: xl would otherwise pick a fresh random uuid.
      if (!cfg.uuid) args.push(`uuid="${configUuid(cfg)}"`);
      const done = mark(guest.name, 'xl:create', 'start');
      try {
        log.info({ guest: guest.name, config: cfg.path }, `xl create ${cfg.path}`);
        await persist(
          `xl create ${cfg.path}`,
          async () => {
            // A create killed at its bound may have made the domain all the same: never make it twice.
            if ((await domidOf(guest.name)) !== null) return;
            const r = await xl.run(args, Math.min(o.deadline, monotonicNow() + xlCreateTimeoutMs));
            if (r.code !== 0) throw xlFailure('refused', 'XL_CREATE_FAILED', [guest.name, xlComplaint(r)], `xl create ${cfg.path} failed: ${xlComplaint(r)}`);
          },
          o.deadline,
        );
      } finally {
        done();
      }
      // xl has no start_delay of its own: the policy's value (checked there) is slept here, once.
      const delay = o.startDelay ?? 0;
      if (delay > 0) await sleep(Math.min(delay * 1000, o.deadline - monotonicNow()));
    },

    async requestCleanShutdown(guest): Promise<CleanShutdownHandle> {
      // The request is part of the guest's clean phase: passing failures get a short second chance.
      return persist(`${guest.name}: clean shutdown request`, () => requestClean(guest), monotonicNow() + XL_QUICK_MS);
    },

    async hardShutdown(guest, o) {
      return persist(`${guest.name}: hard shutdown`, () => hardStop(guest, o), o.deadline);
    },

    async waitFor(uuid, until, o) {
      const name = await nameOf(uuid);
      if (name === null) return 'gone';
      let missing = false;
      const r = await waitUntil(
        name,
        async () => {
          const g = await guestByName(name);
          if (g === null) {
            missing = true;
            return 'gone' as const;
          }
          return until(g) ? g : null;
        },
        o,
      );
      return missing ? 'gone' : r;
    },

    async setOtherConfigKey(guest, key, value) {
      await editOverlay(guest.name, (g) => {
        g.otherConfig[key] = value;
      });
    },

    async removeOtherConfigKey(guest, key) {
      const fromConfigDir = key === 'auto_poweron' && (await configs()).get(guest.name)?.inAutoDir === true;
      await editOverlay(guest.name, (g) => {
        // A key the guest has by itself (auto_poweron from /etc/xen/auto) is hidden, not deleted.
        if (fromConfigDir) g.otherConfig[key] = null;
        else delete g.otherConfig[key];
      });
    },

    async setBlockedOperation(guest, operation, reason) {
      await editOverlay(guest.name, (g) => {
        g.blockedOperations[operation] = reason;
      });
    },

    async removeBlockedOperation(guest, operation) {
      await editOverlay(guest.name, (g) => {
        delete g.blockedOperations[operation];
      });
    },

    async close() {
      await xs.close();
    },
  };

  async function requestClean(guest: Guest): Promise<CleanShutdownHandle> {
    const domid = await requireRunning(guest);
    const home = domainPath(domid);
    // Only what decides the path: the request is part of the guest's clean phase, keep it short.
    const [type, poweroff] = await Promise.all([xs.readOrNull(`/libxl/${domid}/type`), xs.readOrNull(`${home}/control/feature-poweroff`)]);
    const acpi = type?.trim() === 'hvm' && poweroff?.trim() !== '1';
    if (acpi) {
      const r = await xl.run(['trigger', String(domid), 'power'], monotonicNow() + XL_QUICK_MS);
      if (r.code !== 0) throw xlFailure('no-clean-path', 'XL_TRIGGER_FAILED', [guest.name, xlComplaint(r)], `${guest.name}: no PV drivers and the ACPI power button failed: ${xlComplaint(r)}`);
      log.info({ guest: guest.name, domid }, `${guest.name}: pressed the ACPI power button (HVM guest without PV drivers)`);
    } else {
      await xs.write(`${home}/control/shutdown`, 'poweroff');
      log.info({ guest: guest.name, domid }, `${guest.name}: wrote poweroff to ${home}/control/shutdown`);
    }
    const unmark = mark(guest.name, `xl:clean_shutdown:${domid}`, 'clean_shutdown');
    const abort = new AbortController();
    let cancelled = false;
    // The guest taking the request (the key cleared) is logged, not trusted: it may never power off.
    let acked = false;
    const offAck = acpi
      ? () => undefined
      : await hub.subscribe(`${home}/control/shutdown`, () => {
          void xs
            .readOrNull(`${home}/control/shutdown`)
            .then((v) => {
              if (!acked && (v === '' || v === null)) {
                acked = true;
                log.info({ guest: guest.name, domid }, `${guest.name}: took the shutdown request; waiting for the domain to go away`);
              }
            })
            .catch(() => undefined);
        });
    const done = waitGone(guest.name, domid, { deadline: Number.MAX_SAFE_INTEGER, signal: abort.signal }).then((r) => {
      offAck();
      unmark();
      if (r === 'gone' && !cancelled) return;
      throw xlFailure('refused', 'XL_REQUEST_WITHDRAWN', [guest.name], `${guest.name}: clean shutdown request withdrawn`);
    });
    done.catch(() => undefined);
    return {
      done,
      async cancel() {
        if (cancelled) return;
        cancelled = true;
        // Nothing to withdraw once the guest took it; a request still unread is cleared.
        const v = await xs.readOrNull(`${home}/control/shutdown`).catch(() => null);
        if (v === 'poweroff' && (await xs.readOrNull(`${home}/name`).catch(() => null)) === guest.name) {
          await xs.write(`${home}/control/shutdown`, '').catch(() => undefined);
        }
        abort.abort();
      },
    };
  }

  /**
   * xl destroy, done once the domain is gone. 'already-halted' when the guest had stopped by itself
   * before the plug was pulled: its domain already gone, or shut down and only waiting to be reaped.
   */
  async function hardStop(guest: Guest, o: WaitOptions): Promise<void | 'already-halted'> {
    const domid = await domidOf(guest.name);
    if (domid === null) return 'already-halted';
    const stoppedByItself = (await domainState(guest.name))?.includes('s') === true;
    const unmark = mark(guest.name, `xl:destroy:${domid}`, 'hard_shutdown');
    try {
      log.info({ guest: guest.name, domid }, `xl destroy ${domid} (${guest.name})`);
      const r = await xl.run(['destroy', String(domid)], o.deadline);
      if (r.code !== 0) log.warn({ guest: guest.name, domid }, `xl destroy ${domid} said: ${xlComplaint(r)}; checking whether it is gone`);
      const gone = await waitGone(guest.name, domid, o);
      if (gone !== 'gone') {
        throw xlFailure('refused', 'XL_DESTROY_INCOMPLETE', [guest.name, String(domid)], `${guest.name} (domid ${domid}) still exists after xl destroy${r.code !== 0 ? `: ${xlComplaint(r)}` : ''}`);
      }
      // xl refused because there was no such domain any more: it had gone on its own, not by our hand.
      if (stoppedByItself || (r.code !== 0 && /invalid domain identifier/i.test(xlComplaint(r)))) return 'already-halted';
    } finally {
      unmark();
    }
  }

  return speakingMeanings(toolstack, translateXlError);
}
