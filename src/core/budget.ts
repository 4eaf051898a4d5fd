// The shutdown deadline arithmetic. One global deadline D; a reserve R is kept for hard stops;
// the clean phases of the order groups run one after another inside D − R. A group lasts as long
// as its longest clean timeout, so when those add up to more than D − R every clean timeout is cut
// by the same factor (never below a small floor, never above what was asked).

import type { PlanGroup, ShutdownBudget } from './types.js';

/** Seconds a clean phase keeps at least, however tight the deadline (unless it asked for less). */
export const MIN_CLEAN_TIMEOUT = 5;

export interface BudgetResult {
  budget: ShutdownBudget;
  /** Plain-language notes for the plan's warnings. */
  notes: string[];
}

function longestClean(group: PlanGroup): number {
  let longest = 0;
  for (const entry of group.entries) {
    if (entry.action === 'clean-shutdown' && entry.timeout > longest) longest = entry.timeout;
  }
  return longest;
}

/**
 * Fit the groups' clean timeouts into deadline − hardReserve − the waits between groups for
 * VM.shutdown_delay (those waits run on the clean side of the deadline: they must never eat the
 * hard reserve); cuts entries' `timeout` in place.
 */
export function fitShutdownBudget(groups: readonly PlanGroup[], deadline: number, hardReserve: number, parallelism: number): BudgetResult {
  const delays = groups.reduce((sum, g) => sum + (g.delayAfter ?? 0), 0);
  const cleanBudget = Math.max(0, deadline - hardReserve - delays);
  const requested = groups.reduce((sum, g) => sum + longestClean(g), 0);
  const notes: string[] = [];
  const cut = requested > cleanBudget;
  if (cut) {
    const factor = cleanBudget / requested;
    for (const group of groups) {
      for (const entry of group.entries) {
        if (entry.action !== 'clean-shutdown') continue;
        entry.timeout = Math.max(Math.min(MIN_CLEAN_TIMEOUT, entry.timeout), Math.floor(entry.timeout * factor));
      }
    }
    notes.push(
      `clean shutdown timeouts cut to fit the deadline: the groups ask for ${requested} s in sequence, ` +
        `only ${cleanBudget} s fit (shutdown.deadline ${deadline} s − shutdown.hard_reserve ${hardReserve} s` +
        `${delays > 0 ? ` − ${delays} s of VM.shutdown_delay between groups` : ''}); ` +
        `each clean timeout × ${factor.toFixed(3)} (at least ${MIN_CLEAN_TIMEOUT} s)`,
    );
    const fitted = groups.reduce((sum, g) => sum + longestClean(g), 0);
    if (fitted > cleanBudget) {
      notes.push(
        `even cut to ${MIN_CLEAN_TIMEOUT} s per group the ${groups.length} groups need ${fitted} s of clean time, more than the ${cleanBudget} s available: ` +
          `the last groups will get less than their timeout; consider fewer order groups or a longer shutdown.deadline`,
      );
    }
  }
  const waves = worstCaseWithParallelism(groups, parallelism);
  if (waves > cleanBudget) {
    notes.push(
      `with shutdown.parallelism ${parallelism} the clean phases may take up to ${Math.ceil(waves)} s if guests use their whole timeout ` +
        `(groups with more guests than the parallelism stop them in rounds), more than the ${cleanBudget} s clean budget; ` +
        `guests still running when it runs out are hard-stopped`,
    );
  }
  return { budget: { deadline, hardReserve, cleanBudget, delays, requested, cut }, notes };
}

/**
 * How long the clean phases take when every guest uses its whole timeout and each group stops at
 * most `parallelism` guests at once, taken in plan order (the next starts when one finishes).
 */
function worstCaseWithParallelism(groups: readonly PlanGroup[], parallelism: number): number {
  let total = 0;
  for (const group of groups) {
    const timeouts = group.entries.filter((e) => e.action === 'clean-shutdown').map((e) => e.timeout);
    total += timeouts.length <= parallelism ? Math.max(0, ...timeouts) : listScheduleMakespan(timeouts, parallelism);
  }
  return total;
}

/** Makespan of list scheduling on `workers` slots; a binary min-heap of slot finish times. */
function listScheduleMakespan(durations: readonly number[], workers: number): number {
  const heap = new Array<number>(workers).fill(0);
  let makespan = 0;
  for (const duration of durations) {
    const finish = heap[0]! + duration;
    if (finish > makespan) makespan = finish;
    heap[0] = finish;
    siftDown(heap, 0);
  }
  return makespan;
}

function siftDown(heap: number[], start: number): void {
  let i = start;
  for (;;) {
    const left = 2 * i + 1;
    const right = left + 1;
    let smallest = i;
    if (left < heap.length && heap[left]! < heap[smallest]!) smallest = left;
    if (right < heap.length && heap[right]! < heap[smallest]!) smallest = right;
    if (smallest === i) return;
    [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
    i = smallest;
  }
}
