// A fake plain-Xen host for the xl backend's tests: the fake xenstored holds the domains as libxl
// lays them out, `xl` is a real child process (fake-xl.mjs) whose commands land here, and guests
// behave as the real ones did on the real hypervisor (test/system/xen): a guest clears
// control/shutdown when it takes the request and goes away later — or never, when hung.

import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeXenstored, type FakeXenstored } from './fake-xenstored.js';

export interface GuestBehaviour {
  /** Takes control/shutdown but never powers off. */
  hang?: boolean;
  /** Powers off, but its xl monitor is gone: it lingers in state "s" until destroyed. */
  linger?: boolean;
  /** ms from taking the request to going away. */
  shutdownMs?: number;
  type?: 'pv' | 'hvm' | 'pvh';
  /** Advertise control/feature-poweroff (default true except for hvm). */
  featurePoweroff?: boolean;
  /** Write data/<key>=1 this many ms after creation. */
  readyKey?: string;
  readyMs?: number;
  /** xl create fails with this message. */
  failCreate?: string;
  /** `xl trigger DOMID power` fails (no ACPI path either: no way to ask it cleanly). */
  failTrigger?: boolean;
}

export interface XlCall {
  args: string[];
  at: number;
}

export interface FakeXenHost {
  xsd: FakeXenstored;
  dir: string;
  autoDir: string;
  configDir: string;
  stateDir: string;
  xlPath: string;
  calls: XlCall[];
  behaviours: Map<string, GuestBehaviour>;
  /** Write an xl config file (in autoDir when auto) and return its path. */
  addConfig(name: string, opts?: { auto?: boolean; uuid?: string; type?: string; extra?: string; file?: string }): Promise<string>;
  /** Put a domain in place as if created earlier by someone else. */
  runDomain(name: string, uuid: string, b?: GuestBehaviour): number;
  domidOf(name: string): number | null;
  /** The domain has shut down but lingers unreaped (xl list state "s"). */
  isLingering(name: string): boolean;
  /** What createXlToolstack needs to talk to this host (add guestTables, log and any bounds). */
  readonly wiring: { stateDir: string; xenstorePath: string; xlPath: string; autoDir: string; configDir: string };
  /** The next `count` calls of `xl <command>` get no answer (a hung xl): the caller must kill them. */
  stallNext(command: string, count: number): void;
  close(): Promise<void>;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));

function parseName(text: string): string | null {
  return /^\s*name\s*=\s*"([^"]*)"/m.exec(text)?.[1] ?? null;
}

export async function startFakeXenHost(): Promise<FakeXenHost> {
  const xsd = await startFakeXenstored();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fake-xen-host-'));
  const autoDir = path.join(dir, 'etc/xen/auto');
  const configDir = path.join(dir, 'etc/xen');
  const stateDir = path.join(dir, 'state');
  await mkdir(autoDir, { recursive: true });
  await mkdir(stateDir, { recursive: true });
  const calls: XlCall[] = [];
  const behaviours = new Map<string, GuestBehaviour>();
  const lingering = new Set<number>();
  const stalls = new Map<string, number>();
  const stalled = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let nextDomid = 1;

  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  xsd.write('/local/domain/0/name', 'Domain-0');
  xsd.write('/local/domain/0/vm', '/vm/00000000-0000-0000-0000-000000000000');

  const domidOf = (name: string): number | null => {
    for (const [k, v] of xsd.tree) {
      const m = /^\/local\/domain\/(\d+)\/name$/.exec(k);
      if (m && v === name) return Number(m[1]);
    }
    return null;
  };
  const nameOf = (domid: number): string | null => xsd.tree.get(`/local/domain/${domid}/name`) ?? null;

  function destroy(domid: number): void {
    lingering.delete(domid);
    xsd.remove(`/local/domain/${domid}`);
    xsd.remove(`/libxl/${domid}`);
    xsd.fireSpecial('@releaseDomain');
  }

  function runDomain(name: string, uuid: string, b: GuestBehaviour = behaviours.get(name) ?? {}): number {
    const domid = nextDomid++;
    const home = `/local/domain/${domid}`;
    const type = b.type ?? 'pv';
    xsd.write(`/libxl/${domid}/type`, type);
    xsd.write(`${home}/vm`, `/vm/${uuid}`);
    xsd.write(`${home}/memory/target`, String(128 * 1024));
    xsd.write(`${home}/memory/static-max`, String(256 * 1024));
    if (b.featurePoweroff ?? type !== 'hvm') xsd.write(`${home}/control/feature-poweroff`, '1');
    xsd.write(`${home}/control/shutdown`, '');
    xsd.write(`${home}/name`, name); // last: a domain exists once it has a name
    xsd.fireSpecial('@introduceDomain');
    if (b.readyKey) later(b.readyMs ?? 10, () => nameOf(domid) === name && xsd.write(`${home}/data/${b.readyKey}`, '1'));
    return domid;
  }

  function powerOff(domid: number, b: GuestBehaviour): void {
    if (b.hang) return;
    later(b.shutdownMs ?? 20, () => {
      if (nameOf(domid) === null) return;
      if (b.linger) {
        lingering.add(domid);
        xsd.fireSpecial('@releaseDomain');
      } else {
        destroy(domid);
      }
    });
  }

  // A guest's kernel sees dom0 write control/shutdown, clears it (takes the request), powers off.
  xsd.onClientWrite = (p, value) => {
    const m = /^\/local\/domain\/(\d+)\/control\/shutdown$/.exec(p);
    if (!m || value !== 'poweroff') return;
    const domid = Number(m[1]);
    const name = nameOf(domid);
    if (name === null) return;
    const b = behaviours.get(name) ?? {};
    if (b.type === 'hvm' && !(b.featurePoweroff ?? false)) return; // no PV drivers: nobody reads it
    later(5, () => {
      xsd.write(p, '');
      powerOff(domid, b);
    });
  };

  function listLine(name: string, domid: number): string {
    const state = lingering.has(domid) ? '---s--' : '-b----';
    return `${name.padEnd(40)}${String(domid).padStart(5)}  ${String(domid === 0 ? 1024 : 128).padStart(5)}     1     ${state}       1.5`;
  }

  async function xl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    calls.push({ args, at: Date.now() });
    const [cmd, ...rest] = args;
    switch (cmd) {
      case 'create': {
        const file = rest[0] ?? '';
        const text = await readFile(file, 'utf8').catch(() => null);
        if (text === null) return { code: 1, stdout: '', stderr: `Failed to read config file: ${file}\n` };
        const name = parseName(text);
        if (!name) return { code: 1, stdout: '', stderr: 'Parsing config from x\nDomain name must be specified.\n' };
        const b = behaviours.get(name) ?? {};
        if (b.failCreate) return { code: 3, stdout: '', stderr: `Parsing config from ${file}\nlibxl: error: ${b.failCreate}\n` };
        if (domidOf(name) !== null) return { code: 3, stdout: '', stderr: `libxl: error: Domain ${name} already exists\n` };
        const uuidArg = rest.find((a) => a.startsWith('uuid='));
        const uuid = uuidArg ? uuidArg.slice(6, -1) : (/^\s*uuid\s*=\s*"([^"]*)"/m.exec(text)?.[1] ?? '11111111-2222-4333-8444-555555555555');
        runDomain(name, uuid, b);
        return { code: 0, stdout: '', stderr: `Parsing config from ${file}\n` };
      }
      case 'destroy': {
        const domid = Number(rest[0]);
        if (nameOf(domid) === null) return { code: 1, stdout: '', stderr: `invalid domain identifier ${rest[0]}\n` };
        destroy(domid);
        return { code: 0, stdout: '', stderr: '' };
      }
      case 'trigger': {
        const domid = Number(rest[0]);
        const name = nameOf(domid);
        if (name === null) return { code: 1, stdout: '', stderr: 'no such domain\n' };
        if (rest[1] === 'power' && behaviours.get(name)?.failTrigger) return { code: 1, stdout: '', stderr: `libxl: error: trigger power failed for domain ${domid}\n` };
        if (rest[1] === 'power') powerOff(domid, behaviours.get(name) ?? {});
        return { code: 0, stdout: '', stderr: '' };
      }
      case 'list': {
        const header = 'Name                                        ID   Mem VCPUs\tState\tTime(s)\n';
        const domids = [...xsd.tree.keys()].map((k) => /^\/local\/domain\/(\d+)\/name$/.exec(k)).filter((m) => m).map((m) => Number(m![1]));
        const wanted = rest[0];
        const lines = domids.map((d) => ({ d, n: nameOf(d)! })).filter((x) => !wanted || x.n === wanted);
        if (wanted && lines.length === 0) return { code: 1, stdout: '', stderr: `${wanted} is an invalid domain identifier (rc=-6)\n` };
        return { code: 0, stdout: header + lines.map((x) => listLine(x.n, x.d)).join('\n') + '\n', stderr: '' };
      }
      case 'info':
        return { code: 0, stdout: 'host                   : fake\ntotal_memory           : 8192\nfree_memory            : 4096\n', stderr: '' };
      default:
        return { code: 1, stdout: '', stderr: `fake xl: command ${cmd} not simulated\n` };
    }
  }

  const xlSocket = path.join(dir, 'xl.sock');
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    let input = '';
    s.on('data', (d) => (input += d.toString('utf8')));
    s.on('end', () => {
      const args = JSON.parse(input) as string[];
      const left = stalls.get(args[0] ?? '') ?? 0;
      if (left > 0) {
        // Recorded, never answered, nothing done: like an xl stuck before it touched the domain.
        stalls.set(args[0]!, left - 1);
        calls.push({ args, at: Date.now() });
        stalled.add(s);
        s.on('close', () => stalled.delete(s));
        return;
      }
      void xl(args).then((r) => s.end(JSON.stringify(r)));
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(xlSocket, resolve));
  process.env.FAKE_XL_SOCKET = xlSocket;

  return {
    xsd,
    dir,
    autoDir,
    configDir,
    stateDir,
    xlPath: path.join(HERE, 'fake-xl.mjs'),
    calls,
    behaviours,
    async addConfig(name, o = {}) {
      const file = o.file ?? (o.auto ? path.join(autoDir, name) : path.join(configDir, `${name}.cfg`));
      const lines = [`name = "${name}"`, `type = "${o.type ?? 'pv'}"`, 'memory = 128', 'kernel = "/boot/vmlinuz"'];
      if (o.uuid) lines.push(`uuid = "${o.uuid}"`);
      if (o.extra) lines.push(o.extra);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, `${lines.join('\n')}\n`);
      return file;
    },
    runDomain,
    domidOf,
    wiring: { stateDir, xenstorePath: xsd.socketPath, xlPath: path.join(HERE, 'fake-xl.mjs'), autoDir, configDir },
    isLingering: (name) => {
      const domid = domidOf(name);
      return domid !== null && lingering.has(domid);
    },
    stallNext(command, count) {
      stalls.set(command, count);
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      for (const s of stalled) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await xsd.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
