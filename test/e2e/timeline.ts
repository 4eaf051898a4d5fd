// Reading the simulator's per-VM life-cycle timeline in end-to-end assertions.

import type { SimHandle, TimelineEvent } from '../helpers/sim.js';

export interface GuestTimeline {
  uuid: string;
  name: string;
  events: { at: number; event: string; detail?: string }[];
}

export async function timelines(sim: SimHandle): Promise<Map<string, GuestTimeline>> {
  const raw = await sim.timeline();
  const byName = new Map<string, GuestTimeline>();
  for (const vm of Object.values(raw)) {
    byName.set(vm.name_label, {
      uuid: vm.uuid,
      name: vm.name_label,
      events: vm.events.map((e: TimelineEvent) => ({ at: Number(e.t_ms), event: e.event, detail: e.detail })),
    });
  }
  return byName;
}

export function firstAt(t: GuestTimeline | undefined, event: string): number | null {
  return t?.events.find((e) => e.event === event)?.at ?? null;
}

export function count(t: GuestTimeline | undefined, event: string): number {
  return t?.events.filter((e) => e.event === event).length ?? 0;
}

/** Largest number of intervals [from, to] open at the same instant. */
export function maxOverlap(intervals: [number, number][]): number {
  const points = intervals.flatMap(([from, to]) => [
    [from, 1],
    [to, -1],
  ] as [number, number][]);
  // Ends sort before starts at the same instant: a slot freed and reused at once is not an overlap.
  points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let max = 0;
  for (const [, delta] of points) {
    open += delta;
    max = Math.max(max, open);
  }
  return max;
}
