// Tasks as xapi keeps them: every life-cycle call runs inside one (Async.* returns its ref at once,
// a synchronous call waits for it and the task is destroyed afterwards). Cancellation is
// fire-and-forget and only takes effect while the operation is at a cancellable point.

import { ApiError } from './errors.js';
import type { Sim, TaskRuntime } from './state.js';
import { taskRecord } from './model/records.js';
import { encodeValue } from './wire/xmlrpc-encode.js';
import { Double, type RpcValue } from './wire/values.js';

/** Abort reason when the toolstack restarts: the task is simply gone. */
export class ToolstackRestarted extends Error {}

export function createTask(sim: Sim, nameLabel: string, sync: boolean): TaskRuntime {
  const ref = sim.newRef();
  sim.db.insert('task', ref, taskRecord(sim.uuid(), nameLabel, sim.hostRef, new Date()));
  const task: TaskRuntime = { ref, abort: new AbortController(), cancellable: false, cancelRequested: false, finished: false, sync };
  sim.tasks.set(ref, task);
  return task;
}

export function setCancellable(sim: Sim, task: TaskRuntime, cancellable: boolean): void {
  if (task.finished || task.cancellable === cancellable) return;
  task.cancellable = cancellable;
  sim.db.update('task', task.ref, { allowed_operations: cancellable ? ['cancel'] : [] });
  if (cancellable && task.cancelRequested) task.abort.abort(new ApiError('TASK_CANCELLED', [task.ref]));
}

/** task.cancel: marks the task; it is cancelled now if cancellable, or at its next cancellable point. */
export function cancelTask(sim: Sim, ref: string): void {
  const task = sim.tasks.get(ref);
  if (!task || task.finished) return;
  task.cancelRequested = true;
  if (task.cancellable) task.abort.abort(new ApiError('TASK_CANCELLED', [task.ref]));
}

function finish(sim: Sim, task: TaskRuntime, patch: Record<string, RpcValue>): void {
  task.finished = true;
  sim.tasks.delete(task.ref);
  if (task.sync) {
    sim.db.delete('task', task.ref);
    return;
  }
  sim.db.update('task', task.ref, { ...patch, allowed_operations: [], finished: new Date() });
}

export function isCancellation(err: unknown): boolean {
  return err instanceof ApiError && err.code === 'TASK_CANCELLED';
}

/**
 * Runs body inside a task. Async: returns the task ref at once and records the outcome on the task.
 * Sync: resolves with the body's value or rejects with its error (TASK_CANCELLED [task] if cancelled).
 */
export async function runInTask(sim: Sim, nameLabel: string, sync: boolean, body: (task: TaskRuntime) => Promise<RpcValue>, onTask?: (ref: string) => void): Promise<RpcValue> {
  const task = createTask(sim, nameLabel, sync);
  onTask?.(task.ref);
  const outcome = body(task).then(
    (value) => {
      if (task.abort.signal.reason instanceof ToolstackRestarted) return { ok: true as const, value };
      finish(sim, task, { status: 'success', progress: new Double(1), result: encodeValue(value) });
      return { ok: true as const, value };
    },
    (err: unknown) => {
      if (err instanceof ToolstackRestarted || task.abort.signal.reason instanceof ToolstackRestarted) return { ok: false as const, err };
      if (isCancellation(err)) {
        finish(sim, task, { status: 'cancelled', progress: new Double(1), error_info: [] });
        return { ok: false as const, err: new ApiError('TASK_CANCELLED', [task.ref]) };
      }
      const e = err instanceof ApiError ? err : new ApiError('INTERNAL_ERROR', [err instanceof Error ? err.message : String(err)]);
      finish(sim, task, { status: 'failure', progress: new Double(1), error_info: e.description });
      return { ok: false as const, err: e };
    },
  );
  if (!sync) return task.ref;
  const r = await outcome;
  if (r.ok) return r.value;
  throw r.err;
}

/** Drops every task (toolstack restart): their operations stop, their rows vanish. */
export function dropAllTasks(sim: Sim): void {
  for (const task of sim.tasks.values()) {
    task.finished = true;
    task.abort.abort(new ToolstackRestarted('toolstack restarted'));
  }
  sim.tasks.clear();
  for (const ref of [...sim.db.table('task').keys()]) sim.db.delete('task', ref);
}
