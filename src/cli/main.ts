// Entry point: `xen-guests COMMAND [args…]`. Each command lives in its own module, loaded on demand
// so that `xen-guests sim` does not pay for the daemon's imports and vice versa.

import { didYouMean } from '../core/keys.js';
import { RUNS_AS_EXECUTABLE } from './self.js';

export interface CommandModule {
  /** Runs the command; the resolved number is the process exit code. */
  run(argv: string[]): Promise<number>;
}

interface CommandEntry {
  summary: string;
  load: () => Promise<CommandModule>;
}

const COMMANDS: Record<string, CommandEntry> = {
  daemon: { summary: 'the supervised service (systemd Type=notify)', load: () => import('./commands/daemon.js') },
  demo: { summary: 'a whole boot → shutdown cycle on the embedded simulated host', load: () => import('./commands/demo.js') },
  sim: { summary: 'the simulated XenAPI host (from a source checkout or the executable)', load: loadSimulator },
  config: { summary: 'config check: validate a config file without acting', load: () => import('./commands/config.js') },
  enable: { summary: 'set other_config:auto_poweron=true on guests', load: () => import('./commands/enable.js') },
  disable: { summary: 'set other_config:auto_poweron=false on guests', load: () => import('./commands/disable.js') },
  maintenance: { summary: 'maintenance on|off|list: keep guests from being auto-started', load: () => import('./commands/maintenance.js') },
  host: { summary: 'host maintenance on|off|show: the whole host starts no guest at boot', load: () => import('./commands/host.js') },
  plan: { summary: 'plan boot|shutdown: what the daemon would do now (dry run)', load: () => import('./commands/plan.js') },
  status: { summary: 'every guest of this host: state, effective policy and where it came from', load: () => import('./commands/status.js') },
  report: { summary: 'report [boot|shutdown]: the last run, per guest', load: () => import('./commands/report.js') },
  'start-all': { summary: 'run the boot plan now, by hand', load: () => import('./commands/start-all.js') },
  'stop-all': { summary: 'run the shutdown plan now, by hand', load: () => import('./commands/stop-all.js') },
  help: {
    summary: 'help [COMMAND] | --man | --bash-completion: the help texts, the man page, the bash completion',
    load: async () => (await import('./commands/help.js')).createHelpCommand(commandList, usage),
  },
};

function commandList(): { name: string; summary: string; load: () => Promise<CommandModule> }[] {
  return Object.entries(COMMANDS)
    .filter(([name]) => name !== 'help')
    .map(([name, c]) => ({ name, ...c }));
}

/**
 * The simulator is a development tool that ships with the source tree, not with the product: it is
 * loaded by a path computed at run time, so that neither the product's type-check
 * (tsconfig.product.json) nor a bundler building the executable from this entry pulls it in.
 */
async function loadSimulator(): Promise<CommandModule> {
  // The self-contained executable embeds it (for `sim` and `demo`) at sim/cli.js beside its entry.
  const where = new URL(RUNS_AS_EXECUTABLE ? './sim/cli.js' : '../sim/cli.js', import.meta.url);
  try {
    return (await import(where.href)) as CommandModule;
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(where.pathname);
    if (!missing) throw err;
    return {
      run: () => {
        process.stderr.write(
          'xen-guests sim: the simulated host is not part of this installation; it comes with the source tree ' +
            '(git clone, then `npm ci && npm run build && node dist/src/cli/bin.js sim`, or `npm run demo`)\n',
        );
        return Promise.resolve(1);
      },
    };
  }
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return ['Usage: xen-guests COMMAND [options]   (xen-guests COMMAND --help for each)', '', 'Commands:', ...lines].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h') {
    process.stdout.write(usage() + '\n');
    return 0;
  }
  if (!name) {
    // Bad usage, like any other: the text goes to stderr, so `xen-guests | …` in a script is not fed it.
    process.stderr.write(usage() + '\n');
    return 2;
  }
  if (name === '--version') {
    process.stdout.write('xen-guests 0.1.0\n');
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`xen-guests: unknown command "${name}"${didYouMean(name, Object.keys(COMMANDS))}; allowed: ${Object.keys(COMMANDS).join(', ')}\n`);
    return 2;
  }
  const mod = await entry.load();
  return mod.run(rest);
}
