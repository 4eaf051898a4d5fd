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
