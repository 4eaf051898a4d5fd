// `xen-guests config check`: the same checks the daemon makes before it acts, without acting.
// Prints "ok" and the effective values (as TOML the daemon would accept), or every problem.

import { parseArgs } from 'node:util';
import { readPasswordFile } from '../../app/config-files.js';
import { ConfigError, configAsToml, DEFAULT_CONFIG_PATH, formatConfig } from '../../core/config.js';
import { RESTART_ONLY_SETTINGS } from '../../core/reload.js';
import type { Config } from '../../core/types.js';
import { loadEffectiveConfig } from '../context.js';
import { argsProblem, configErrorExitCode, jsonAnswer, printJson } from '../format/usage.js';
import { didYouMean } from '../../core/keys.js';

const USAGE = `Usage: xen-guests config check [--config FILE] [--xapi URL|unix:PATH] [--state-dir DIR]
                               [--on-sigterm auto|stop-guests|leave-guests] [--json]

Checks a config file the way the daemon does before it acts — TOML syntax, unknown keys, types,
ranges, cross-field rules, and that xapi.password_file is readable by its owner only — and prints
"ok" with the effective values, or every problem (file, key, value, what is allowed).
Without --config: ${DEFAULT_CONFIG_PATH} if it exists, else the built-in defaults.

Options:
  --config FILE      the config file to check
  --xapi, --state-dir, --on-sigterm
                     command-line overrides, checked and applied as the daemon would
  --json             {"ok": true, "source", "config"} or {"ok": false, "problems": [...]}
  -h, --help         this text

A running daemon re-reads the file on SIGHUP (systemctl reload xen-guests) and applies everything,
the toolstack connection included, except ${RESTART_ONLY_SETTINGS.join(' and ')}, which need a restart.

Exit status: 0 ok; 78 problems found in the file (EX_CONFIG: the code every xen-guests command and
the daemon return for a bad config); 2 bad usage, a bad --xapi / --state-dir / --on-sigterm too.

Examples:
  xen-guests config check
  xen-guests config check --config /etc/xen-guests/config.toml
  xen-guests config check --config ./test.toml --xapi http://127.0.0.1:8080 --json
`;

const OPTIONS = {
  config: { type: 'string' },
  xapi: { type: 'string' },
  'state-dir': { type: 'string' },
  'on-sigterm': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`xen-guests config: ${argsProblem(err, OPTIONS, argv)}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== 'check') {
    const got = positionals.length === 0 ? 'nothing' : JSON.stringify(positionals.join(' ')) + didYouMean(positionals[0]!, ['check']);
    process.stderr.write(`xen-guests config: expected the subcommand "check", got ${got}\n\n${USAGE}`);
    return 2;
  }
  return check(values, values.json === true);
}

async function check(values: { config?: string; xapi?: string; 'state-dir'?: string; 'on-sigterm'?: string }, json: boolean): Promise<number> {
  let config: Config;
  try {
    config = await loadEffectiveConfig(values);
    if (config.xapi.passwordFile) await readPasswordFile(config.xapi.passwordFile, config.source);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    if (json) printJson(jsonAnswer('config check', { source: err.source, problems: err.problems }, err.problems.map((p) => p.message)));
    else process.stderr.write(`xen-guests config: ${err.message}\n`);
    return configErrorExitCode(err);
  }
  const source = config.source || `built-in defaults (${DEFAULT_CONFIG_PATH} does not exist)`;
  if (json) {
    printJson(jsonAnswer('config check', { source, config: configAsToml(config), restartOnly: RESTART_ONLY_SETTINGS }));
  } else {
    const passwordNote = config.xapi.passwordFile ? `# ${config.xapi.passwordFile}: readable by its owner only\n` : '';
    const reloadNote = `# a running daemon takes all of this on SIGHUP (systemctl reload xen-guests), except ${RESTART_ONLY_SETTINGS.join(', ')}: those need a restart\n`;
    process.stdout.write(`ok: ${source}\n# effective values:\n${passwordNote}${reloadNote}${formatConfig(config)}`);
  }
  return 0;
}
