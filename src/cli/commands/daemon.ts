// `xen-guests daemon`: the supervised service. See src/daemon/daemon.ts for its life.

import { parseArgs } from 'node:util';
import { LOG_LEVELS } from '../../core/config.js';
import { didYouMean } from '../../core/keys.js';
import { runDaemonFromCommandLine } from '../../app/compose.js';
import { argsProblem, EXIT_USAGE } from '../format/usage.js';

export const HELP = `Usage: xen-guests daemon [--config FILE] [--xapi URL|unix:PATH] [--state-dir DIR]
                         [--on-sigterm auto|stop-guests|leave-guests] [--log-level LEVEL]

The service systemd runs (units/xen-guests.service, Type=notify). At host boot it starts this
host's guests by policy, once per boot; at host shutdown it stops them cleanly inside one deadline.
A stop that is not a host shutdown (systemctl stop/restart, an upgrade) touches no guest.

Options:
  --config FILE       config file (default /etc/xen-guests/config.toml, else built-in defaults)
  --xapi URL          toolstack endpoint: unix:/var/lib/xcp/xapi, https://host, http://127.0.0.1:PORT
  --state-dir DIR     where the boot marker, snapshot and reports live (default /var/lib/xen-guests)
  --on-sigterm MODE   auto: ask systemd whether the host is going down (default);
                      stop-guests / leave-guests: decide without asking (hosts without systemd, tests)
  --log-level LEVEL   ${LOG_LEVELS.join('|')} (default: log.level in the config, else info)
  -h, --help          this text

Environment:
  XEN_GUESTS_RUNTIME_DIR  the runtime directory (default /run/xen-guests for root): the tmpfs
                          witness that this boot was handled, and the single-instance lock. Set it
                          to a private directory to run a second daemon by hand (e.g. against the
                          simulator) beside the installed service.
  NOTIFY_SOCKET           set by systemd; empty or unset outside systemd
  XEN_GUESTS_LOG_LEVEL    the log level when neither --log-level nor the config sets one

Exit status: 0 done; 1 a guest of this host was left running, or the daemon failed; 2 bad
arguments (a bad --xapi or --on-sigterm value too); 78 (EX_CONFIG) a bad config file — the code
every xen-guests command uses for it; the unit does not restart the daemon on 2 or 78.

Examples:
  xen-guests daemon
  xen-guests daemon --xapi http://127.0.0.1:8080 --state-dir /tmp/xg --on-sigterm stop-guests
`;

const OPTIONS = {
  config: { type: 'string' },
  xapi: { type: 'string' },
  'state-dir': { type: 'string' },
  'on-sigterm': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function refuse(message: string): number {
  process.stderr.write(`xen-guests daemon: ${message}\nTry "xen-guests daemon --help".\n`);
  return EXIT_USAGE;
}

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    // Every flag the daemon does not take (--json, --wait, …) is refused: it would otherwise be
    // started with defaults the admin did not mean.
    const allowed = Object.keys(OPTIONS).map((o) => `--${o}`).join(', ');
    return refuse(`${argsProblem(err, OPTIONS, argv)}; allowed: ${allowed}`);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const level = values['log-level'];
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level)) {
    return refuse(`--log-level ${JSON.stringify(level)}: must be one of ${LOG_LEVELS.join(', ')}${didYouMean(level, LOG_LEVELS)}`);
  }
  return runDaemonFromCommandLine(values);
}
