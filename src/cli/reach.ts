// Reaching the toolstack from an admin command. The daemon is patient (xapi may still be booting);
// a person at a prompt is not served by a minute of silence when nothing listens at the endpoint.
// So commands first knock on the socket: "nothing listens" (ENOENT, ECONNREFUSED) ends the command
// at once with the reason, unless --wait SECONDS asks to wait for the toolstack to come up.

import { knock } from '../app/knock.js';
import { deadlineIn, systemClock } from '../core/clock.js';
import { retry } from '../retry.js';
import type { Toolstack } from '../toolstack/types.js';
import type { CommandContext } from './context.js';
import { CommandFailure, nowWaitingFor, stringOption, UsageError, type Parsed } from './format/usage.js';

/** Knocking costs one local connect, so the waits start short; a toolstack coming up is seen within a second. */
const KNOCK_BACKOFF = { initialMs: 250, maxMs: 1_000 };
const MAX_WAIT_SECONDS = 86_400;

/** --wait SECONDS: 0 (the default) means "do not wait for a toolstack that is not there". */
export function waitSeconds(values: Parsed['values']): number {
  const raw = stringOption(values, 'wait');
  if (raw === undefined) return 0;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n > MAX_WAIT_SECONDS) {
    throw new UsageError(`--wait ${JSON.stringify(raw)}: must be a number of seconds from 0 to ${MAX_WAIT_SECONDS}`);
  }
  return n;
}

/** Nothing listens at the endpoint yet: the one failure worth knocking again for. */
class NothingListens extends Error {}

/**
 * The context's toolstack, once something listens at its endpoint: at once, or within --wait
 * seconds (monotonic clock). Throws a CommandFailure naming the endpoint and the fix otherwise.
 */
export async function reachToolstack(ctx: CommandContext, values: Parsed['values']): Promise<Toolstack> {
  const wait = waitSeconds(values);
  if (ctx.config.toolstack.kind === 'xenapi') {
    const url = ctx.config.xapi.url;
    nowWaitingFor(`the toolstack at ${url}${wait > 0 ? ` (up to ${wait} s, --wait)` : ''}`);
    try {
      await retry(
        async () => {
          const result = await knock(url);
          if (!result.answered) throw new NothingListens(result.why);
        },
        { ...KNOCK_BACKOFF, deadline: deadlineIn(wait * 1000), now: systemClock.now, retryable: (err) => err instanceof NothingListens },
      );
    } catch (err) {
      if (!(err instanceof NothingListens)) throw err;
      const waited = wait > 0 ? ` after waiting ${wait} s` : '';
      throw new CommandFailure(
        `cannot reach the toolstack at ${url}: ${err.message}${waited}. Is xapi running (systemctl status xapi)? ` +
          `Check --xapi or xapi.url in the config${wait > 0 ? '' : ', or add --wait SECONDS to wait for it to come up'}`,
      );
    }
    nowWaitingFor(`the toolstack at ${url} to answer`);
  }
  return ctx.toolstack();
}
