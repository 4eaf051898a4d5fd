// Async.* calls: the call returns a task ref at once; the task's end is seen through the event
// loop (no task.get_status polling), its result decoded, and the task destroyed afterwards.

import type { Logger } from '../log.js';
import { asLiveRef } from './decode.js';
import { BAD_RESPONSE, TASK_LOST, XenApiError, isXenApiError } from './errors.js';
import type { XenApiEvents } from './events.js';
import { type Ref, type TaskRecord, decodeTask } from './records.js';
import type { CallOptions, SessionCaller } from './session.js';
import { decodeXmlValue } from './xml-answer.js';

export const TASK_CANCELLED = 'TASK_CANCELLED';
/** The caller's deadline passed while the task was still pending: [task, method]. The task goes on. */
export const TASK_TIMEOUT = 'XENAPI_TASK_TIMEOUT';
/** task.destroy is tidying up, not work: it must never hold up a shutdown. */
const DESTROY_TIMEOUT_MS = 5_000;
/** The one authoritative look at a task whose deadline passed: short, it only confirms a late event. */
const LATE_CHECK_TIMEOUT_MS = 5_000;

export interface AsyncCall {
  readonly taskRef: Ref;
  /**
   * The task's decoded result (undefined for void). Rejects with XenApiError carrying the task's
   * error_info, TASK_CANCELLED [task] when cancelled, XENAPI_TASK_LOST when the task vanished
   * (toolstack restart), XENAPI_TASK_TIMEOUT at the deadline.
   */
  readonly result: Promise<unknown>;
  /** task.cancel: a request; the task may still finish normally. Does not wait for the end. */
  cancel(): Promise<void>;
}

export interface AsyncCallOptions extends CallOptions {
  /** Absolute deadline (ms since epoch) for the task's end; none = wait until it ends. */
  deadline?: number;
}

export interface TaskRunner {
  start(opts: AsyncCallOptions, method: string, params: unknown[]): Promise<AsyncCall>;
  /** Resolves when every best-effort task.destroy started so far has finished, or after `maxMs`. */
  settle(maxMs: number): Promise<void>;
}

export function createTaskRunner(caller: SessionCaller, events: XenApiEvents, log: Logger): TaskRunner {
  const destroying = new Set<Promise<void>>();

  function destroy(taskRef: Ref): void {
    const p = caller
      .call({ retryUnavailable: false, timeoutMs: DESTROY_TIMEOUT_MS }, 'task.destroy', [taskRef])
      .then(
        () => events.forget('task', taskRef),
        (err) => log.debug({ task: taskRef, err: (err as Error).message }, 'task.destroy failed (ignored)'),
      )
      .finally(() => destroying.delete(p));
    destroying.add(p);
  }

  async function outcome(method: string, taskRef: Ref, opts: AsyncCallOptions): Promise<unknown> {
    const ended = await events.waitFor<TaskRecord | 'gone'>(
      (view, ctx) => {
        const task = view.get('task', taskRef);
        if (task && task.status !== 'pending' && task.status !== 'cancelling') return task;
        if (!task && ctx.gone('task', taskRef)) return 'gone';
        return undefined;
      },
      { deadline: opts.deadline, signal: opts.signal },
    );
    if (ended === 'timeout') {
      // A busy client can see the task's end late (its event still being decoded when the deadline
      // timer fires): ask xapi once before calling it a timeout.
      const now = await readTask(taskRef, opts);
      if (now === null || now.status === 'pending' || now.status === 'cancelling') {
        throw new XenApiError(TASK_TIMEOUT, [taskRef, method], method, `${method}: task ${taskRef} still pending at the deadline (XENAPI_TASK_TIMEOUT)`);
      }
      return settled(method, taskRef, now);
    }
    if (ended === 'gone') {
      throw new XenApiError(TASK_LOST, [taskRef, method], method, `${method}: task ${taskRef} vanished before it finished (toolstack restart?) (XENAPI_TASK_LOST)`);
    }
    return settled(method, taskRef, ended);
  }

  /** The task as xapi has it now; null when it cannot say (gone, unreachable: the timeout stands). */
  async function readTask(taskRef: Ref, opts: AsyncCallOptions): Promise<TaskRecord | null> {
    try {
      const value = await caller.call({ signal: opts.signal, timeoutMs: LATE_CHECK_TIMEOUT_MS, retryUnavailable: false }, 'task.get_record', [taskRef]);
      return decodeTask({ call: 'task.get_record', path: '' }, taskRef, value);
    } catch (err) {
      log.debug({ task: taskRef, err: (err as Error).message }, 'task.get_record at the deadline failed');
      return null;
    }
  }

  function settled(method: string, taskRef: Ref, ended: TaskRecord): Promise<unknown> {
    destroy(taskRef);
    if (ended.status === 'success') return decodeTaskResult(method, ended.result);
    if (ended.status === 'cancelled') throw new XenApiError(TASK_CANCELLED, [taskRef], method);
    const [code, ...params] = ended.errorInfo;
    if (!code) throw new XenApiError(BAD_RESPONSE, [method, `task ${taskRef} failed without error_info`], method);
    throw new XenApiError(code, params, method);
  }

  return {
    async start(opts, method, params) {
      const asyncMethod = method.startsWith('Async.') ? method : `Async.${method}`;
      // The loop must be following events before the task can end unseen; waitFor starts it, and
      // a task that ends before the first sync is read by that sync.
      void events.ready({ signal: opts.signal }).catch(() => undefined);
      const taskRef = asLiveRef({ call: asyncMethod, path: '' }, await caller.call(opts, asyncMethod, params));
      const result = outcome(method, taskRef, opts);
      result.catch(() => undefined); // the caller may only look at it later
      return {
        taskRef,
        result,
        async cancel() {
          try {
            await caller.call({ signal: opts.signal }, 'task.cancel', [taskRef]);
          } catch (err) {
            // Already ended and gone: nothing left to cancel.
            if (!isXenApiError(err, 'HANDLE_INVALID')) throw err;
          }
        },
      };
    },
    async settle(maxMs) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...destroying]), new Promise((r) => (timer = setTimeout(r, maxMs)))]);
      clearTimeout(timer);
    },
  };
}

/**
 * A task's result is an XML-RPC value as text: '<value></value>' for void, '<value>OpaqueRef:…</value>'
 * for a ref. Decoded with the same decoder as every XML-RPC answer, so the types match.
 */
export async function decodeTaskResult(method: string, result: string): Promise<unknown> {
  const text = result.trim();
  if (text === '' || /^<value\s*\/>$/.test(text) || text === '<value></value>') return undefined;
  try {
    return decodeXmlValue(text);
  } catch {
    throw new XenApiError(BAD_RESPONSE, [method, `task result is not an XML-RPC value: ${text.slice(0, 80)}`], method);
  }
}
