// The engine's Guest record for an xl host, from a running domain (xenstore) and/or its config file,
// with the policy keys of the state-directory overlay in otherConfig, so that the policy and plan
// code is the same for XenAPI and xl.

import { createHash } from 'node:crypto';
import type { CleanShutdownAbility, Guest, PowerState } from '../types.js';
import type { GuestConfigFile } from './guest-configs.js';
import { agentLive, type DomainRecord } from './domains.js';
import { applyOverlay, type GuestOverlay } from './overlay.js';

const MiB = 1024 * 1024;

/**
 * The identity of a guest whose config sets no uuid: derived from its name, so it is the same on
 * every boot (xl would pick a random one at each create; the backend passes this one to xl create).
 */
export function stableUuid(name: string): string {
  const h = createHash('sha256').update(`xen-guests:xl:${name}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50; // version 5 layout (name-based)
  h[8] = (h[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export function configUuid(cfg: GuestConfigFile): string {
  return cfg.uuid ?? stableUuid(cfg.name);
}

/** Can a request through control/shutdown (or the ACPI button) reach this guest, and why. */
export function cleanShutdownAbility(d: DomainRecord): CleanShutdownAbility {
  if (d.domid === 0) return { able: false, reason: 'the control domain' };
  if (d.features.includes('poweroff')) return { able: true, reason: 'guest advertises control/feature-poweroff' };
  if (d.type === 'pv' || d.type === 'pvh') return { able: true, reason: `${d.type.toUpperCase()} kernel answers control/shutdown` };
  if (d.type === 'hvm') return { able: true, reason: 'HVM guest without PV drivers: ACPI power button (xl trigger power), destroyed at its timeout' };
  return { able: true, reason: 'domain type unknown: control/shutdown request, destroyed at its timeout' };
}

export interface RecordContext {
  hostUuid: string;
  overlay: GuestOverlay | undefined;
  /** Operations this process has under way on the guest (op id -> vm_operations name). */
  inFlight: Record<string, string>;
  /** From `xl list` when it was asked; undefined = not known (xenstore cannot tell). */
  paused?: boolean;
}

function baseOtherConfig(cfg: GuestConfigFile | undefined): Record<string, string> {
  return cfg?.inAutoDir ? { auto_poweron: 'true' } : {};
}

function common(name: string, uuid: string, cfg: GuestConfigFile | undefined, ctx: RecordContext) {
  return {
    ref: name,
    uuid,
    name,
    isTemplate: false,
    isSnapshot: false,
    affinity: null,
    order: 0,
    startDelay: 0,
    shutdownDelay: 0,
    otherConfig: applyOverlay(baseOtherConfig(cfg), ctx.overlay),
    blockedOperations: { ...(ctx.overlay?.blockedOperations ?? {}) },
  };
}

export function guestFromDomain(d: DomainRecord, cfg: GuestConfigFile | undefined, ctx: RecordContext): Guest {
  const uuid = d.uuid ?? (cfg ? configUuid(cfg) : stableUuid(d.name));
  const powerState: PowerState = ctx.paused ? 'Paused' : 'Running';
  const features = [...d.features].sort();
  const xenstoreData: Record<string, string> = {};
  // data/KEY is the guest-writable place on xl; vm-data/KEY wins when both exist.
  for (const [k, v] of Object.entries(d.keys)) if (k.startsWith('data/')) xenstoreData[`vm-data/${k.slice(5)}`] = v;
  for (const [k, v] of Object.entries(d.keys)) if (k.startsWith('vm-data/')) xenstoreData[k] = v;
  const memory = (d.memoryTargetKiB ?? (cfg ? cfg.memoryMiB * 1024 : 0)) * 1024;
  const memoryMax = (d.memoryStaticMaxKiB ?? (cfg ? cfg.maxMemMiB * 1024 : 0)) * 1024;
  const currentOperations = { ...ctx.inFlight };
  if (d.shutdownRequest !== null) {
    currentOperations['xenstore:control/shutdown'] = d.shutdownRequest === 'reboot' ? 'clean_reboot' : 'clean_shutdown';
  }
  return {
    ...common(d.name, uuid, cfg, ctx),
    powerState,
    isControlDomain: d.domid === 0,
    residentOn: ctx.hostUuid,
    memoryRequired: memory,
    memoryMax: Math.max(memoryMax, memory),
    cleanShutdown: cleanShutdownAbility(d),
    tools: {
      pvDrivers: d.type === 'pv' || d.type === 'pvh' || features.length > 0,
      version: null,
      agentLive: agentLive(d),
      upToDate: null,
      features,
    },
    xenstoreData,
    currentOperations,
    domainType: d.type ?? (cfg?.type ?? 'unspecified'),
  };
}

export function guestFromConfig(cfg: GuestConfigFile, ctx: RecordContext): Guest {
  return {
    ...common(cfg.name, configUuid(cfg), cfg, ctx),
    powerState: 'Halted',
    isControlDomain: false,
    residentOn: null,
    memoryRequired: cfg.memoryMiB * MiB,
    memoryMax: cfg.maxMemMiB * MiB,
    cleanShutdown: { able: false, reason: 'not running' },
    tools: { pvDrivers: cfg.type !== 'hvm', version: null, agentLive: false, upToDate: null, features: [] },
    xenstoreData: {},
    currentOperations: { ...ctx.inFlight },
    domainType: cfg.type,
  };
}
