// What every strategy gets: the same Toolstack (the project's XenAPI client) on the same simulated
// host, the run's limits in simulated seconds, and the time scale to turn them into real time.

import type { RunReport } from '../../src/core/types.js';
import type { Toolstack } from '../../src/toolstack/types.js';

export type Mode = 'boot' | 'shutdown';

export interface StrategyInput {
  ts: Toolstack;
  mode: Mode;
  parallelism: number;
  /** Real seconds per simulated second. */
  scale: number;
  /** Clean-phase timeout per guest, simulated seconds. */
  guestTimeoutS: number;
  /** Bound on start + readiness per guest, simulated seconds. */
  readyTimeoutS: number;
  /** xen-guests: the report file of an earlier run of the same workload to plan with (the second night). */
  lastRunFile?: string;
  /** xen-guests: receives the run's report (the first night's, for a learned run to plan with). */
  onReport?: (report: RunReport) => void;
}

/** Anything worth showing about the run beyond what the simulator's timeline tells. */
export type StrategyNotes = Record<string, unknown>;

export type Strategy = (input: StrategyInput) => Promise<StrategyNotes>;

export const STRATEGY_NAMES = ['ours', 'sequential', 'xapi', 'proxmox', 'libvirt'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** Which strategies have a boot side and a shutdown side. */
export const STRATEGIES_FOR: Record<Mode, readonly StrategyName[]> = {
  boot: ['ours', 'sequential', 'proxmox'],
  shutdown: ['ours', 'sequential', 'xapi', 'proxmox', 'libvirt'],
};

export function isStrategyName(s: string): s is StrategyName {
  return (STRATEGY_NAMES as readonly string[]).includes(s);
}

export function simMs(simSeconds: number, scale: number): number {
  return simSeconds * scale * 1000;
}
