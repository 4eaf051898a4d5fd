// What a toolstack backend may answer when an operation does not do what was asked. The engine
// decides on these meanings only; each backend translates its own world into them (XenAPI error
// codes in toolstack/xenapi.ts, xl and xenstore failures in toolstack/xl.ts), and keeps its own code
// and parameters on the failure so that reports show exactly what the toolstack said.

/**
 * - `no-clean-path`: the guest cannot take a clean shutdown request (no PV drivers, the operation
 *   is blocked or not allowed): only a hard stop will end it.
 * - `wrong-state`: the guest is not in a state the operation applies to (already halted, already
 *   running, paused …): read it again to learn which.
 * - `gone`: the guest no longer exists.
 * - `transient`: the toolstack was briefly unable (restart, dropped connection, a timeout of its
 *   own): the guest's state says nothing, asking again is safe.
 * - `refused`: the toolstack said no for a reason of its own; asking again will not help.
 */
export type Meaning = 'no-clean-path' | 'wrong-state' | 'gone' | 'transient' | 'refused';

/** A failure a backend reported: its meaning, plus its own code and parameters exactly as sent. */
export class ToolstackError extends Error {
  constructor(
    readonly meaning: Meaning,
    readonly code: string,
    readonly params: readonly string[] = [],
    message?: string,
    options?: { cause?: unknown },
  ) {
    super(message ?? (params.length ? `${code} [${params.join(', ')}]` : code), options);
    this.name = 'ToolstackError';
  }
}

export function meaningOf(err: unknown): Meaning | null {
  return err instanceof ToolstackError ? err.meaning : null;
}

export function isTransient(err: unknown): boolean {
  return meaningOf(err) === 'transient';
}

/** A failure that carries the toolstack's own code and parameters (ToolstackError, XenApiError). */
type Coded = Error & { code: string; params: readonly string[]; method?: unknown };

function isCoded(err: unknown): err is Coded {
  return err instanceof Error && typeof (err as Partial<Coded>).code === 'string' && Array.isArray((err as Partial<Coded>).params);
}

/** A message that is only "CODE [params]" (what the errors say when nobody wrote a sentence). */
function onlyCode(err: Coded): boolean {
  return err.message === err.code || err.message.endsWith(`${err.code} [${err.params.join(', ')}]`);
}

/**
 * A failure as one sentence a person reads: the first explanation written for people along the
 * chain of causes, then the innermost error's code and parameters, flat ("… — error CODE with a,
 * b"), never the nested "CODE [a, CODE [b]]" that errors wrapped in errors would print.
 */
export function failureSentence(err: unknown): string {
  const chain: Coded[] = [];
  for (let e: unknown = err; isCoded(e) && chain.length < 8; e = e.cause) chain.push(e);
  if (chain.length === 0) return err instanceof Error ? err.message : String(err);
  const innermost = chain[chain.length - 1]!;
  const code = `error ${innermost.code}${innermost.params.length ? ` with ${innermost.params.join(', ')}` : ''}`;
  const explained = chain.find((e) => !onlyCode(e));
  if (explained) return `${explained.message} — ${code}`;
  const method = chain.map((e) => e.method).find((m): m is string => typeof m === 'string');
  return `${method ? `the call ${method}` : 'a toolstack call'} failed — ${code}`;
}
