// What every admin command shares at its edges: parsing arguments into a clear usage error (exit 2),
// --help text, and turning a failure into one line on stderr that names the thing and the fix.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ToolstackError } from '../../toolstack/types.js';
import { COMMON_OPTIONS } from '../context.js';
import { didYouMean } from '../../core/keys.js';
import { COMMAND_LINE, ConfigError } from '../../core/config.js';
import type { RunReport } from '../../core/types.js';
import { problemSummary } from '../../report/text.js';

import { EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from '../../core/exit-codes.js';
export { EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from '../../core/exit-codes.js';

/** Bad arguments: the message names the argument, the bad value and what is allowed. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A refusal or failure the command already explained; `exitCode` is what the process returns, and
 * `command` the full command its --json answer names (e.g. "host maintenance on"), when more than the first word.
 */
export class CommandFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILED,
    readonly command?: string,
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
  --wait SECONDS       wait up to SECONDS for a toolstack that is not answering yet (default 0:
                       give up at once when nothing listens at the endpoint)
  --json               machine-readable output on stdout
  -h, --help           this help`;

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every admin command that talks to the toolstack takes. */
export const ADMIN_OPTIONS = { ...COMMON_OPTIONS, wait: { type: 'string' } } as const satisfies Options;

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
    throw new UsageError(`${argsProblem(err, options, argv)}; allowed options: ${allowedOptions(options)}`);
  }
}

export function allowedOptions(options: Options): string {
  return Object.entries(options)
    .map(([name, o]) => `--${name}${o.type === 'string' ? ' VALUE' : ''}`)
    .join(', ');
}

/**
 * parseArgs' own wording is about its API ("argument missing", "argument is ambiguous", three
 * sentences on dashes); say plainly which argument is wrong and what would be right.
 */
export function argsProblem(err: unknown, options: Options, argv: readonly string[] = []): string {
  const message = err instanceof Error ? err.message : String(err);
  const missing = /^Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(message);
  if (missing) return `${missing[1]} needs a value (${missing[1]} VALUE)`;
  // `--reason --xapi URL`: the value was forgotten and the next option would be taken for it.
  const ambiguous = /^Option '(?:-\w, )?(--[\w-]+)' argument is ambiguous/.exec(message);
  if (ambiguous) {
    const flag = ambiguous[1]!;
    const next = argv[argv.indexOf(flag) + 1];
    const follows = next === undefined ? 'an option follows it' : `${JSON.stringify(next)} follows it, which reads as an option`;
    return `${flag} needs a value (${flag} VALUE), but ${follows} (to give a value that starts with "-", write ${flag}=${next ?? '-VALUE'})`;
  }
  const unknown = /^Unknown option '([^']+)'/.exec(message);
  if (unknown) {
    const flags = Object.keys(options).map((name) => `--${name}`);
    return `unknown option ${JSON.stringify(unknown[1])}${didYouMean(unknown[1]!, flags)}`;
  }
  return message.replace(/\. To specify a positional argument.*$/s, '');
}

export function stringOption(values: Parsed['values'], name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A bad value in the config file is EX_CONFIG; a bad value typed on the command line is bad usage. */
export function configErrorExitCode(err: ConfigError): number {
  return err.source === COMMAND_LINE ? EXIT_USAGE : EXIT_CONFIG;
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

/** After this long without an answer a person at a terminal is told what the command waits for. */
const PATIENCE_NOTICE_MS = 1500;
let waitingFor: string | null = null;

/** What the command waits for now (shown on a terminal if it takes long); null when it shows its own progress. */
export function nowWaitingFor(what: string | null): void {
  waitingFor = what;
}

/** On a terminal, say once per thing awaited what the command is waiting for, so it never sits silent. */
function startPatienceNotice(name: string): () => void {
  if (!process.stderr.isTTY) return () => undefined;
  let told: string | null = null;
  const timer = setInterval(() => {
    if (waitingFor === null || waitingFor === told) return;
    told = waitingFor;
    process.stderr.write(`xen-guests ${name}: waiting for ${waitingFor}… (Ctrl-C to give up)\n`);
  }, PATIENCE_NOTICE_MS);
  timer.unref();
  return () => clearInterval(timer);
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
  const stopNotice = startPatienceNotice(name);
  try {
    return await body();
  } catch (err) {
    const prefix = `xen-guests ${name}: `;
    if (err instanceof UsageError) {
      process.stderr.write(`${prefix}${err.message}\nTry "xen-guests ${name} --help".\n`);
      return EXIT_USAGE;
    }
    let message: string;
    let code: number;
    let command = name;
    if (err instanceof ConfigError) {
      [message, code] = [err.message, configErrorExitCode(err)];
    } else if (err instanceof CommandFailure) {
      [message, code, command] = [err.message, err.exitCode, err.command ?? name];
    } else {
      [message, code] = [describeFailure(err), EXIT_FAILED];
      if (process.env.XEN_GUESTS_DEBUG && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    }
    process.stderr.write(`${prefix}${message}\n`);
    // Scripts that asked for JSON get JSON on failure too: the errors[] every command documents.
    if (argv.includes('--json')) printJson(jsonAnswer(command, {}, [message]));
    return code;
  } finally {
    stopNotice();
  }
}

/**
 * The one --json answer of every command: `command` names it, `ok` says whether all that was asked
 * was done (exit 0), `errors[]` says what was not — so a script tests one field, whatever the command.
 * The body sits between them; its own `command`, `ok` or `errors` cannot override the envelope.
 */
export function jsonAnswer<Body extends object>(
  command: string,
  body: Body,
  errors: readonly string[] = [],
): { command: string; ok: boolean } & Omit<Body, 'command' | 'ok' | 'errors'> & { errors: string[] } {
  const envelope = { command, ok: errors.length === 0 };
  // Object.assign keeps the envelope's keys first in the printed JSON and its values last in force.
  return Object.assign({}, envelope, body, envelope, { errors: [...errors] });
}

/** A run's --json answer (start-all, stop-all, report): ok only when it went as planned; errors[] says what did not. */
export function runAnswer(command: string, report: RunReport): ReturnType<typeof jsonAnswer<RunReport>> {
  const errors: string[] = [];
  if (report.interrupted) errors.push(`interrupted: ${report.interrupted}`);
  if (report.exitCode !== EXIT_OK) errors.push(problemSummary(report));
  return jsonAnswer(command, report, errors);
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
