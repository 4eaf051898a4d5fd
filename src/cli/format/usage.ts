// What every admin command shares at its edges: parsing arguments into a clear usage error (exit 2),
// --help text, and turning a failure into one line on stderr that names the thing and the fix.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ToolstackError } from '../../toolstack/types.js';

import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from '../../core/exit-codes.js';
export { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from '../../core/exit-codes.js';

/** Bad arguments: the message names the argument, the bad value and what is allowed. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A refusal or failure the command already explained; `exitCode` is what the process returns. */
export class CommandFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILED,
  ) {
    super(message);
    this.name = 'CommandFailure';
  }
}

/** Options every admin command takes, for the help text. */
export const COMMON_HELP = `Common options:
  --config FILE        config file (default: /etc/xen-guests/config.toml, else built-in defaults)
  --xapi URL|unix:PATH XenAPI endpoint, overriding xapi.url (e.g. unix:/var/lib/xcp/xapi)
  --state-dir DIR      the daemon's state directory, overriding state_dir
  --json               machine-readable output on stdout
  -h, --help           this help`;

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/** node:util parseArgs, with its errors reworded to name the allowed options. */
export function parseCommandArgs(argv: string[], options: Options, allowPositionals: boolean): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals, strict: true });
    return { values: values as Parsed['values'], positionals };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const allowed = Object.entries(options)
      .map(([name, o]) => `--${name}${o.type === 'string' ? ' VALUE' : ''}`)
      .join(', ');
    throw new UsageError(`${message.replace(/\. To specify a positional argument.*$/s, '')}; allowed options: ${allowed}`);
  }
}

export function stringOption(values: Parsed['values'], name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A hint for the failures an admin hits most, so the one-line reason says what to do. */
function describeFailure(err: unknown): string {
  if (err instanceof ToolstackError) {
    if (err.code === 'SESSION_AUTHENTICATION_FAILED') return `${err.message} (check xapi.user and xapi.password_file in the config)`;
    if (err.code === 'HOST_IS_SLAVE') return `${err.message} (this host is a pool member; point --xapi at the pool master ${err.params[0] ?? ''})`;
    return err.message;
  }
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'EACCES') {
      return `cannot reach the toolstack: ${err.message} (is xapi running? check --xapi or xapi.url in the config)`;
    }
    return err.message;
  }
  return String(err);
}

/**
 * Run a command body: --help prints `help` and exits 0; usage and config errors exit 2; failures
 * exit with their code after one line on stderr.
 */
export async function runCommand(name: string, help: string, argv: string[], body: () => Promise<number>): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(help.endsWith('\n') ? help : help + '\n');
    return EXIT_OK;
  }
  try {
    return await body();
  } catch (err) {
    const prefix = `xen-guests ${name}: `;
    if (err instanceof UsageError) {
      process.stderr.write(`${prefix}${err.message}\nTry "xen-guests ${name} --help".\n`);
      return EXIT_USAGE;
    }
    if (err instanceof Error && err.name === 'ConfigError') {
      process.stderr.write(`${prefix}${err.message}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof CommandFailure) {
      process.stderr.write(`${prefix}${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`${prefix}${describeFailure(err)}\n`);
    if (process.env.XEN_GUESTS_DEBUG && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    return EXIT_FAILED;
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
