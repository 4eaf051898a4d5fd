// `xen-guests sim`: run the simulated XenAPI host until SIGINT/SIGTERM.

import { startSimulator, type SimulatorOptions } from './index.js';

const HELP = `Usage: xen-guests sim [options]

A simulated XenAPI (xapi) host: XML-RPC and JSON-RPC over HTTP on TCP and/or a Unix socket,
with guests that boot, run an agent and shut down on their own schedule (docs/SIMULATOR.md).

Options:
  --listen ADDR      HOST:PORT (port 0 = any free port) or unix:/path; repeat for both.
                     Default 127.0.0.1:0.
  --guests N         generate N ordinary guests (plus the control domain, templates, a snapshot)
                     in the mix of a current XCP-ng host, repeating every ten: 7 HVM with PV
                     drivers and an agent, 2 PV, 1 HVM without PV drivers (hard stop only)
  --hosts N          a pool of N live hosts (default: the scenario's, else 1); this simulator is
                     the first and pool master, generated guests' affinity is spread over them
  --scenario FILE    a JSON scenario: pool, hosts, guests and their behaviours
  --time-scale X     real seconds per simulated second (0.01 = 100x faster; default 1)
  --seed S           seed for generated guests, uuids and refs (default 1)
  --user U           user accepted over TCP (default root)
  --password P       password accepted over TCP (default empty); the Unix socket accepts any
  -h, --help         this text

Prints one line when ready, e.g.
  xen-guests sim: listening on http://127.0.0.1:40123 and unix:/tmp/x.sock (12 guests, time scale 0.01) ready

Examples:
  xen-guests sim --listen 127.0.0.1:0 --guests 10 --time-scale 0.01
  xen-guests sim --listen unix:/tmp/xapi.sock --scenario examples/sim-hung-guest.json --seed 7
  python3 -c 'import xmlrpc.client as x; s=x.ServerProxy("http://127.0.0.1:PORT/"); print(s.session.login_with_password("root",""))'
`;

class UsageError extends Error {}

function number(flag: string, raw: string | undefined, check: (n: number) => boolean, allowed: string): number {
  if (raw === undefined) throw new UsageError(`${flag}: missing value; expected ${allowed}`);
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || !check(n)) throw new UsageError(`${flag} ${raw}: bad value; expected ${allowed}`);
  return n;
}

export function parseArgs(argv: string[]): SimulatorOptions | 'help' {
  const opts: SimulatorOptions = { listen: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string | undefined => (eq > 0 ? arg.slice(eq + 1) : argv[++i]);
    switch (flag) {
      case '-h':
      case '--help':
        return 'help';
      case '--listen': {
        const v = value();
        if (!v) throw new UsageError('--listen: missing value; expected HOST:PORT or unix:/path');
        opts.listen!.push(v);
        break;
      }
      case '--guests':
        opts.guests = number('--guests', value(), (n) => Number.isInteger(n) && n >= 0 && n <= 100_000, 'an integer from 0 to 100000');
        break;
      case '--hosts':
        opts.hosts = number('--hosts', value(), (n) => Number.isInteger(n) && n >= 1 && n <= 64, 'an integer from 1 to 64');
        break;
      case '--scenario': {
        const v = value();
        if (!v) throw new UsageError('--scenario: missing value; expected a JSON file path');
        opts.scenario = v;
        break;
      }
      case '--time-scale':
        opts.timeScale = number('--time-scale', value(), (n) => n > 0 && n <= 1000, 'a number > 0 (e.g. 0.01 = 100x faster)');
        break;
      case '--seed':
        opts.seed = number('--seed', value(), (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer');
        break;
      case '--user': {
        const v = value();
        if (v === undefined) throw new UsageError('--user: missing value');
        opts.user = v;
        break;
      }
      case '--password': {
        const v = value();
        if (v === undefined) throw new UsageError('--password: missing value (use --password "" for empty)');
        opts.password = v;
        break;
      }
      default:
        throw new UsageError(`unknown option "${arg}"; allowed: --listen, --guests, --hosts, --scenario, --time-scale, --seed, --user, --password, --help`);
    }
  }
  return opts;
}

export async function run(argv: string[]): Promise<number> {
  let opts;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`xen-guests sim: ${e.message}\n(see xen-guests sim --help)\n`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  // Listen for signals before starting, so that no window exists where one would kill us outright.
  const stopped = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  let simulator;
  try {
    simulator = await startSimulator({ ...opts, log: (m) => process.stderr.write(`xen-guests sim: ${m}\n`) });
  } catch (e) {
    process.stderr.write(`xen-guests sim: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  const where = [simulator.tcpUrl, simulator.socketPath && `unix:${simulator.socketPath}`].filter(Boolean).join(' and ');
  if (simulator.generatedMix) process.stdout.write(`xen-guests sim: generated guests: ${simulator.generatedMix}\n`);
  process.stdout.write(`xen-guests sim: listening on ${where} (${simulator.guestCount} guests, time scale ${simulator.timeScale}) ready\n`);
  const signal = await stopped;
  await simulator.close();
  process.stderr.write(`xen-guests sim: stopped (${signal})\n`);
  return 0;
}
