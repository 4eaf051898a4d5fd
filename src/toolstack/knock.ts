// Is anything listening at a XenAPI endpoint? One connection attempt per place the endpoint may be,
// nothing sent. Admin commands use it to say at once that nothing listens (ENOENT, ECONNREFUSED)
// instead of sitting out the call timeout; the daemon does not (it waits for xapi by design).

import { connect, type Socket } from 'node:net';
import { parseEndpoint } from '../xenapi/index.js';

/** How long one knock may take: a host that drops packets is "not answering", not "nothing listens". */
const KNOCK_TIMEOUT_MS = 2000;

export type Knock = { answered: true } | { answered: false; why: string };

function knockOnce(target: { path: string } | { host: string; port: number }): Promise<Knock> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ ...target, timeout: KNOCK_TIMEOUT_MS });
    const done = (knock: Knock) => {
      socket.destroy();
      resolve(knock);
    };
    socket.once('connect', () => done({ answered: true }));
    // A knock that times out is left to the real call and its own timeout: something may be there.
    socket.once('timeout', () => done({ answered: true }));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') done({ answered: false, why: `nothing listens (${err.code})` });
      else done({ answered: true });
    });
  });
}

/** Knock on every place the endpoint may be (the default Unix socket has two); one answer is enough. */
export async function knock(url: string): Promise<Knock> {
  const ep = parseEndpoint(url);
  const targets = ep.kind === 'unix' ? ep.socketPaths.map((path) => ({ path })) : [{ host: ep.host, port: ep.port }];
  let last: Knock = { answered: false, why: 'no endpoint' };
  for (const target of targets) {
    last = await knockOnce(target);
    if (last.answered) return last;
  }
  return last;
}

