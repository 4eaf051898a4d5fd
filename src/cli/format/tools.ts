// Guest-tools state in the terms of seed 002 ("handling guest tools versions"): the PV drivers and the
// agent report versions through xenstore attr/PVAddons/*, xapi derives "up to date" from them, and an
// appliance that cannot be upgraded says so with attr/PVAddons/NotUpgradable=1.

import type { GuestTools } from '../../toolstack/types.js';

/** One line, e.g. "PV drivers 9.3.1, up to date; agent reporting; features: shutdown, poweroff". */
export function describeTools(tools: GuestTools): string {
  if (!tools.pvDrivers) {
    return tools.agentLive ? 'no PV drivers; agent reporting' : 'no guest tools (no PV drivers, no agent reporting)';
  }
  const version = tools.version ? `PV drivers ${tools.version}` : 'PV drivers (version unknown)';
  const freshness =
    tools.upToDate === null ? '' : tools.upToDate ? ', up to date' : ', out of date (upgrade the guest tools, or an appliance sets attr/PVAddons/NotUpgradable=1)';
  const agent = tools.agentLive ? 'agent reporting' : 'agent not reporting';
  const features = tools.features.length ? `; features: ${tools.features.join(', ')}` : '; no control/feature-* advertised';
  return `${version}${freshness}; ${agent}${features}`;
}

/** Short form for table cells. */
export function toolsCell(tools: GuestTools): string {
  if (!tools.pvDrivers) return tools.agentLive ? 'agent only' : 'none';
  const version = tools.version ?? '?';
  const stale = tools.upToDate === false ? ' (old)' : '';
  return `${version}${stale}${tools.agentLive ? '' : ' (agent not reporting)'}`;
}
