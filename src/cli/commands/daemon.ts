// `xen-guests daemon`: the supervised service. See src/daemon/daemon.ts for its life.

import { parseArgs } from 'node:util';
import { COMMON_OPTIONS } from '../context.js';
import { runDaemonFromCommandLine } from '../../app/compose.js';

const HELP = `Usage: xen-guests daemon [--config FILE] [--xapi URL|unix:PATH] [--state-dir DIR]
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
  --log-level LEVEL   trace|debug|info|warn|error|fatal

Examples:
  xen-guests daemon
  xen-guests daemon --xapi http://127.0.0.1:8080 --state-dir /tmp/xg --on-sigterm stop-guests
`;

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, 'on-sigterm': { type: 'string' }, 'log-level': { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`xen-guests daemon: ${err instanceof Error ? err.message : String(err)}\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  return runDaemonFromCommandLine(values);
}
