// Which plan warnings (a guest's refused policy value, a guest without a clean shutdown path…) were
// already logged at their own level in this host boot. Kept in the runtime directory, which the
// kernel empties at every boot: a daemon restarted in the same boot (an upgrade, systemctl restart)
// does not log them at error again at the host's shutdown, and the next boot logs them afresh.

import { join } from 'node:path';
import { readTextOrNull, writeFileAtomic } from '../state/atomic.js';
import { arrayOf, object, str } from '../state/validate.js';

const FILE = 'plan-warnings-told.json';
const check = object({ bootId: str, messages: arrayOf(str) });

/** The messages told in `bootId`; none when the file is absent, of another boot or unreadable. */
export async function readWarningsTold(dir: string, bootId: string): Promise<string[]> {
  const text = await readTextOrNull(join(dir, FILE));
  if (text === null) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  if (check(parsed, FILE) !== null) return [];
  const record = parsed as { bootId: string; messages: string[] };
  return record.bootId === bootId ? record.messages : [];
}

export async function writeWarningsTold(dir: string, bootId: string, messages: string[]): Promise<void> {
  await writeFileAtomic(join(dir, FILE), JSON.stringify({ bootId, messages }) + '\n');
}
