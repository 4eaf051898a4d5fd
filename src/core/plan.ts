// The plan: a pure function from (mode, guests, policies, host, last shutdown snapshot) to ordered
// groups of actions, with a reason and a code for every guest left out. The daemon runs it, and
// `plan`/`status` show it, so what an admin sees is exactly what will happen.

import type { Guest, HostInfo, HostMaintenance, UnreadableGuest } from './guest.js';
import { fitShutdownBudget } from './budget.js';
import { notAGuest } from './not-a-guest.js';
import { allotMemory } from './memory.js';
import { effectivePolicy } from './policy.js';
import { orderWithinGroups } from './within-group.js';
import type {
  Config,
  EffectivePolicy,
  GuestRef,
  Plan,
  PlanAction,
  PlanEntry,
  PlanGroup,
  PlanMode,
  PlanWarning,
  RunReport,
  ShutdownBudget,
  ShutdownSnapshot,
  SkipCode,
  SnapshotGuest,
} from './types.js';

export interface PlanInput {
  mode: PlanMode;
  guests: readonly Guest[];
  host: HostInfo;
  config: Config;
  snapshot: ShutdownSnapshot | null;
  /** Policies by guest uuid, when the caller computed them already; missing ones are computed. */
  policies?: Map<string, EffectivePolicy>;
  /** Guests whose record the toolstack could not decode: listed as skipped, never acted on. */
  unreadable?: readonly UnreadableGuest[];
  /**
   * Boot: uuids of guests an earlier daemon of this boot (or an earlier attempt of this one) already
   * asked to start, from the boot journal. They keep their real state in the plan; see isResumedStart.
   */
  resumed?: ReadonlySet<string>;
  /**
   * Boot: the report of the last shutdown run. Guests it migrated away left this host alive, so the
   * snapshot taken before it no longer makes them this host's (see migratedAway).
   */
  lastShutdown?: RunReport | null;
  /**
   * The report of the last run of the same kind as this plan (boot for a boot plan, shutdown for a
   * shutdown plan): under order_within_group = longest-first, the guests that took longest in it go
   * first in their group (see within-group.ts).
   */
  lastRun?: RunReport | null;
}

/** What one guest gets, before grouping and before the memory and deadline passes. */
type Decision =
  | { action: 'skip'; skipCode: SkipCode; reason: string }
  | { action: Exclude<PlanAction, 'skip'>; reason: string | null };

interface Context {
  host: HostInfo;
  config: Config;
  snapshot: ShutdownSnapshot | null;
  snapshotGuests: Map<string, SnapshotGuest>;
  /** Guest uuid → name of the host the last shutdown migrated it to. */
  migratedAway: ReadonlyMap<string, string>;
  resumed: ReadonlySet<string>;
}

const skip = (skipCode: SkipCode, reason: string): Decision => ({ action: 'skip', skipCode, reason });

/** VMs that are not guests at all: listed among the skipped, never counted as guests. */
const NOT_GUEST_SKIPS: ReadonlySet<SkipCode> = new Set<SkipCode>(['control-domain', 'template', 'snapshot']);

/** A skip of a VM that is no guest (template, snapshot, control domain): never counted as a guest. */
export function skipsNotAGuest(code: SkipCode | null | undefined): boolean {
  return code != null && NOT_GUEST_SKIPS.has(code);
}

export function refOf(guest: Guest): GuestRef {
  return { uuid: guest.uuid, name: guest.name, ref: guest.ref };
}

function label(guest: Guest): string {
  return `guest ${JSON.stringify(guest.name)} (${guest.uuid})`;
}

// ---------------------------------------------------------------- decisions shared by both modes

/** Templates, snapshots and the control domain are never touched. */
function infrastructure(guest: Guest): Decision | null {
  switch (notAGuest(guest)) {
    case 'control-domain':
      return skip('control-domain', 'the control domain (dom0) is never started or stopped');
    case 'snapshot':
      return skip('snapshot', 'a snapshot, not a guest: never started or stopped');
    case 'template':
      return skip('template', 'a template, not a guest: never started or stopped');
    case null:
      return null;
  }
}

function isUp(state: string): boolean {
  return state === 'Running' || state === 'Paused';
}

/**
 * The guests the last shutdown of this host moved to another host, by the report of the same run
 * as the snapshot (an older or another host's report says nothing about this snapshot).
 */
export function migratedAway(snapshot: ShutdownSnapshot | null, lastShutdown: RunReport | null | undefined, hostUuid: string): Map<string, string> {
  const sameRun = snapshot !== null && lastShutdown?.mode === 'shutdown' && lastShutdown.bootId === snapshot.bootId && lastShutdown.hostUuid === hostUuid;
  if (!sameRun) return new Map();
  return new Map(lastShutdown.guests.flatMap((g) => (g.outcome === 'migrated' && g.migration?.to ? [[g.guest.uuid, g.migration.to.name] as const] : [])));
}

/**
 * Was the guest running on this host when the last host shutdown began (per the snapshot), and left
 * here by it? One the shutdown migrated away was handed to the pool alive: it is no longer this
 * host's by the snapshot, so an admin who later brings it back and halts it here finds it halted.
 */
function ranHereAtLastShutdown(guest: Guest, ctx: Context): boolean {
  if (ctx.migratedAway.has(guest.uuid)) return false;
  const before = ctx.snapshotGuests.get(guest.uuid);
  if (!before || !isUp(before.powerState)) return false;
  return (before.residentOn ?? ctx.snapshot?.hostUuid) === ctx.host.uuid;
}

// ---------------------------------------------------------------- boot

function notThisHostAtBoot(guest: Guest, ctx: Context): Decision | null {
  const { host } = ctx;
  if (isUp(guest.powerState) && guest.residentOn !== null && guest.residentOn !== host.uuid) {
    return skip('not-this-host', `not this host's: ${guest.powerState.toLowerCase()} on host ${guest.residentOn}${migratedTo(guest, ctx)}`);
  }
  return notOursInThePool(guest, ctx);
}

/** " (migrated to host-b at the last shutdown)", or nothing. */
function migratedTo(guest: Guest, ctx: Context): string {
  const to = ctx.migratedAway.get(guest.uuid);
  return to === undefined ? '' : ` (migrated to ${to} at the last shutdown)`;
}

/** In a pool, which guests this host starts: by affinity, or having run here at the last shutdown. */
function notOursInThePool(guest: Guest, ctx: Context): Decision | null {
  const { host } = ctx;
  if (host.poolSize <= 1 || guest.affinity === host.uuid || ranHereAtLastShutdown(guest, ctx)) return null;
  const affinity = guest.affinity === null ? 'it has no affinity' : `its affinity is host ${guest.affinity}`;
  if (ctx.migratedAway.has(guest.uuid)) {
    return skip(
      'not-this-host',
      `not this host's: the last shutdown migrated it to ${ctx.migratedAway.get(guest.uuid)!} and ${affinity}; it is ${guest.powerState.toLowerCase()} now, so someone stopped it since (start it by hand, or set its affinity to this host)`,
    );
  }
  return skip(
    'not-this-host',
    `not this host's: ${affinity} and it was not running here at the last shutdown (in a pool of ${host.poolSize} hosts only guests with affinity to this host, or that ran here, are started here)`,
  );
}

function maintenanceSkip(policy: EffectivePolicy): Decision | null {
  const m = policy.maintenance;
  if (!m) return null;
  const when = [m.since ? `since ${m.since}` : '', m.by ? `by ${m.by}` : ''].filter(Boolean).join(' ');
  return skip('maintenance', `in maintenance: ${m.reason}${when ? ` (${when})` : ''}`);
}

function disabledReason(policy: EffectivePolicy): string {
  const source = policy.sources.onStart;
  // An invalid on_start is not "no on_start key": say what was refused and what decided instead.
  const refused = source.replaced ? `${source.replaced.key} = ${JSON.stringify(source.replaced.raw)} is invalid (ignored), and ` : '';
  return refused + disabledBy(source);
}

function disabledBy(source: EffectivePolicy['sources']['onStart']): string {
  if (source.key === 'xen-guests:on_start' || source.key?.endsWith('.on_start')) return `not enabled: ${source.key} = ignore`;
  if (source.key === 'boot.honour_auto_poweron') return 'not enabled: boot.honour_auto_poweron = false and no xen-guests:on_start key';
  if (source.key === 'auto_poweron') return `not enabled: auto_poweron = ${JSON.stringify(source.raw ?? '')} (only exactly "true" means start)`;
  if (source.key?.endsWith('.auto_poweron')) return `not enabled: ${source.key} = false`;
  return 'not enabled: no auto_poweron = "true" and no xen-guests:on_start key';
}

function startPolicySkip(guest: Guest, policy: EffectivePolicy, ctx: Context): Decision | null {
  if (policy.onStart === 'ignore') return skip('disabled', disabledReason(policy));
  if (policy.onStart === 'restore' && !ranHereAtLastShutdown(guest, ctx)) {
    const why = ctx.migratedAway.has(guest.uuid)
      ? `the last shutdown migrated it to ${ctx.migratedAway.get(guest.uuid)!} rather than stopping it`
      : ctx.snapshot
      ? `it was not running here at the last shutdown (snapshot of ${ctx.snapshot.takenAt})`
      : 'no shutdown snapshot is recorded, so it cannot be known to have been running';
    return skip('restore-not-running', `on_start = restore and ${why}`);
  }
  return null;
}

function stateSkipAtBoot(guest: Guest): Decision | null {
  if (isUp(guest.powerState)) return skip('already-running', guest.powerState === 'Paused' ? 'already running (paused)' : 'already running');
  if (guest.powerState === 'Suspended') {
    return skip(
      'suspended-needs-admin',
      'suspended: never started fresh and its suspend image is never discarded; an admin resumes it (xe vm-resume) or discards the image (xe vm-shutdown --force)',
    );
  }
  const inFlight = Object.values(guest.currentOperations);
  if (inFlight.length > 0) return skip('already-running', `an operation is under way on it already (${inFlight.join(', ')})`);
  return null;
}

function startBlocked(guest: Guest): Decision | null {
  const blocked = guest.blockedOperations.start;
  if (blocked === undefined) return null;
  return skip('start-blocked', `start is blocked in the toolstack (blocked_operations:start = ${JSON.stringify(blocked)}); remove the block to start it`);
}

/** "host in maintenance mode (since …, by …): why" — what is known of it, nothing invented. */
export function describeHostMaintenance(m: HostMaintenance): string {
  const known = [m.since ? `since ${m.since}` : '', m.by ? `by ${m.by}` : ''].filter(Boolean);
  return `host in maintenance mode${known.length ? ` (${known.join(', ')})` : ''}: ${m.reason}`;
}

/** A host in maintenance starts nothing; only guests that would otherwise start are told so. */
function hostMaintenanceSkip(ctx: Context): Decision | null {
  const m = ctx.host.maintenance;
  return m ? skip('host-maintenance', describeHostMaintenance(m)) : null;
}

const HA_PRIORITIES: ReadonlySet<string> = new Set(['restart', 'best-effort']);

/** Is this guest HA's to restart (pool HA on and a restart priority set)? */
export function isHaManaged(guest: Guest, host: HostInfo): boolean {
  return host.haEnabled === true && HA_PRIORITIES.has(guest.haRestartPriority ?? '');
}

/** With pool HA on, a guest HA restarts is HA's: starting it too would race HA's own placement. */
function haSkip(guest: Guest, ctx: Context): Decision | null {
  if (!isHaManaged(guest, ctx.host)) return null;
  return skip('ha-managed', `HA restarts it: pool HA is on and its ha_restart_priority is ${JSON.stringify(guest.haRestartPriority)}`);
}

/**
 * A guest this boot's plan already asked to start (a daemon restarted, or an attempt retried, in the
 * middle of the plan). Its state now is the plan's own doing, so its state decides nothing: it is
 * judged on its policy as at the plan's first run and stays in its group, not started again, so
 * that the next group still waits for its readiness. A paused or suspended one was put so by
 * someone since, and is judged on that state as any other guest.
 */
function isResumedStart(guest: Guest, ctx: Context): boolean {
  return ctx.resumed.has(guest.uuid) && guest.powerState !== 'Paused' && guest.powerState !== 'Suspended';
}

const RESUMED_REASON = 'already asked to start earlier in this boot\'s plan: not asked again; its readiness is still waited for before the next group';

function bootDecision(guest: Guest, policy: EffectivePolicy, ctx: Context): Decision {
  const resumed = isResumedStart(guest, ctx);
  return (
    infrastructure(guest) ??
    (resumed ? notOursInThePool(guest, ctx) : notThisHostAtBoot(guest, ctx)) ??
    maintenanceSkip(policy) ??
    startPolicySkip(guest, policy, ctx) ??
    (resumed ? null : stateSkipAtBoot(guest)) ??
    hostMaintenanceSkip(ctx) ??
    haSkip(guest, ctx) ??
    startBlocked(guest) ?? { action: 'start', reason: resumed ? RESUMED_REASON : null }
  );
}

// ---------------------------------------------------------------- shutdown

function shutdownDecision(guest: Guest, policy: EffectivePolicy, ctx: Context): Decision {
  const early = infrastructure(guest);
  if (early) return early;
  const { host } = ctx;
  if (host.poolSize > 1 && guest.residentOn !== null && guest.residentOn !== host.uuid) {
    return skip('not-this-host', `not this host's: resident on host ${guest.residentOn}`);
  }
  if (guest.powerState === 'Halted') return skip('already-halted', 'already halted');
  if (guest.powerState === 'Suspended') return skip('already-halted', 'suspended, not running; its suspend image is kept');
  if (policy.selfManagedPoweroff) {
    return skip('self-managed-poweroff', "other_config:auto_poweroff is set (xapi's self-managed poweroff): left alone at host shutdown");
  }
  if (guest.powerState === 'Paused') return { action: 'hard-shutdown', reason: 'paused: a paused guest cannot answer a clean shutdown request' };
  if (policy.onStop === 'poweroff') return { action: 'hard-shutdown', reason: 'on_stop=poweroff' };
  const blocked = guest.blockedOperations.clean_shutdown;
  if (blocked !== undefined) {
    return { action: 'hard-shutdown', reason: `clean_shutdown is blocked in the toolstack (blocked_operations:clean_shutdown = ${JSON.stringify(blocked)})` };
  }
  if (!guest.cleanShutdown.able) return { action: 'hard-shutdown', reason: `cannot take a clean shutdown request: ${guest.cleanShutdown.reason}` };
  return { action: 'clean-shutdown', reason: null };
}

// ---------------------------------------------------------------- assembling the plan

function entryFor(guest: Guest, policy: EffectivePolicy, decision: Decision, mode: PlanMode, config: Config, resumed: boolean): PlanEntry {
  const starting = decision.action === 'start';
  let timeout = 0;
  // xapi sleeps start_delay inside VM.start, so the bound on start + readiness must include it.
  if (starting) timeout = config.boot.readyTimeout + policy.startDelay;
  else if (decision.action === 'clean-shutdown' && mode === 'shutdown') timeout = policy.shutdownTimeout;
  return {
    guest: refOf(guest),
    action: decision.action,
    order: policy.order,
    timeout,
    ready: starting ? policy.ready : null,
    startDelay: starting ? policy.startDelay : 0,
    reason: decision.reason,
    skipCode: decision.action === 'skip' ? decision.skipCode : null,
    memoryRequired: guest.memoryRequired,
    powerState: guest.powerState,
    ...(mode === 'shutdown' && policy.onStop === 'migrate' && guest.powerState === 'Running' && decision.action !== 'skip' ? { migrate: true } : {}),
    ...(resumed && starting ? { resumed: true as const } : {}),
  };
}

/**
 * Ascending VM.order, then name, then uuid: the priority for memory (which guest gets memory must not
 * change with last night's timings) and the order of the skipped; the order inside a group is then
 * set by orderWithinGroups.
 */
function byPriority(a: PlanEntry, b: PlanEntry): number {
  if (a.order !== b.order) return a.order - b.order;
  if (a.guest.name !== b.guest.name) return a.guest.name < b.guest.name ? -1 : 1;
  return a.guest.uuid < b.guest.uuid ? -1 : a.guest.uuid > b.guest.uuid ? 1 : 0;
}

/** Consecutive runs of equal order, from entries sorted by byPriority. */
function groupByOrder(sorted: readonly PlanEntry[]): PlanGroup[] {
  const groups: PlanGroup[] = [];
  for (const entry of sorted) {
    const last = groups[groups.length - 1];
    if (last && last.order === entry.order) last.entries.push(entry);
    else groups.push({ order: entry.order, entries: [entry] });
  }
  return groups;
}

/** A guest known only by its ref (and what of its uuid and name could be read). */
function unreadableEntry(bad: UnreadableGuest): PlanEntry {
  return {
    guest: { uuid: bad.uuid ?? bad.ref, name: bad.name ?? bad.ref, ref: bad.ref },
    action: 'skip',
    order: 0,
    timeout: 0,
    ready: null,
    startDelay: 0,
    reason: `unreadable record: ${bad.problem}`,
    skipCode: 'unreadable-record',
    memoryRequired: 0,
    // Unknown; a skip's power state is shown nowhere, and no plan acts on it.
    powerState: 'Halted',
  };
}

function toSkip(entry: PlanEntry, skipCode: SkipCode, reason: string): PlanEntry {
  return { ...entry, action: 'skip', skipCode, reason, timeout: 0, ready: null };
}

function poolAutoPoweronWarning(): PlanWarning {
  return {
    guest: null,
    message:
      'pool other_config:auto_poweron is "true": xapi\'s own autostart (xapi-domains) would also start flagged guests, pool-wide and unordered; ' +
      'turn it off: xe pool-param-remove uuid=$(xe pool-list --minimal) param-name=other-config param-key=auto_poweron',
  };
}

/** What holds for the whole host, shown above everything else by `plan` and `status`. */
export function hostNotices(host: HostInfo, mode: PlanMode, haSkipped: number): string[] {
  const notices: string[] = [];
  if (host.maintenance) {
    const effect = mode === 'boot' ? 'no guest is started at boot' : 'at shutdown guests are still stopped as usual';
    notices.push(`${describeHostMaintenance(host.maintenance)} — ${effect}`);
  }
  if (host.haEnabled) {
    notices.push(
      `pool HA is on: guests with ha_restart_priority restart or best-effort are HA's to restart and are not started at boot` +
        (mode === 'boot' ? ` (${haSkipped} here)` : ''),
    );
    if (host.poolAutoPoweron) {
      notices.push(
        'dueling managers: pool HA is on and pool other_config:auto_poweron is "true", so HA and xapi\'s own autostart (xapi-domains) both start guests, ' +
          'unordered and racing each other; turn auto_poweron off: xe pool-param-remove uuid=$(xe pool-list --minimal) param-name=other-config param-key=auto_poweron',
      );
    }
  }
  return notices;
}

export function buildPlan(input: PlanInput): Plan {
  const { mode, guests, host, config, snapshot } = input;
  if (mode !== 'boot' && mode !== 'shutdown') throw new Error(`plan mode ${JSON.stringify(mode)}: must be boot or shutdown`);
  const ctx: Context = {
    host,
    config,
    snapshot,
    snapshotGuests: new Map((snapshot?.guests ?? []).map((g) => [g.uuid, g])),
    migratedAway: mode === 'boot' ? migratedAway(snapshot, input.lastShutdown, host.uuid) : new Map(),
    resumed: input.resumed ?? new Set<string>(),
  };
  const warnings: PlanWarning[] = [];
  const acting: PlanEntry[] = [];
  const skipped: PlanEntry[] = [];

  const shutdownDelays = new Map<string, number>();
  for (const guest of guests) {
    const policy = input.policies?.get(guest.uuid) ?? effectivePolicy(guest, config);
    const decision = mode === 'boot' ? bootDecision(guest, policy, ctx) : shutdownDecision(guest, policy, ctx);
    const entry = entryFor(guest, policy, decision, mode, config, mode === 'boot' && isResumedStart(guest, ctx));
    shutdownDelays.set(guest.uuid, policy.shutdownDelay);
    (decision.action === 'skip' ? skipped : acting).push(entry);
    const oursToJudge = decision.action !== 'skip' || !['control-domain', 'template', 'snapshot', 'not-this-host'].includes(decision.skipCode);
    if (oursToJudge) warnings.push(...guestWarnings(guest, policy, decision, mode));
  }

  skipped.push(...(input.unreadable ?? []).map(unreadableEntry));

  acting.sort(byPriority);
  let planned = acting;
  if (mode === 'boot') {
    planned = applyMemory(acting, host, skipped, warnings, startsInFlight(guests));
    if (host.poolAutoPoweron) warnings.unshift(poolAutoPoweronWarning());
  }

  const groups = groupByOrder(planned);
  if (mode === 'shutdown') groups.reverse();
  const rule = mode === 'boot' ? config.boot.orderWithinGroup : config.shutdown.orderWithinGroup;
  const withinGroup = orderWithinGroups(groups, rule, mode, host.uuid, input.lastRun);
  let budget: ShutdownBudget | null = null;
  if (mode === 'shutdown') {
    setShutdownDelays(groups, shutdownDelays);
    const fitted = fitShutdownBudget(groups, config.shutdown.deadline, config.shutdown.hardReserve, config.shutdown.parallelism);
    budget = fitted.budget;
    warnings.push(...fitted.notes.map((message) => ({ guest: null, message })));
  }

  skipped.sort(byPriority);
  if (mode === 'shutdown') skipped.sort((a, b) => b.order - a.order);
  const acted = planned.length;
  const haSkipped = skipped.filter((e) => e.skipCode === 'ha-managed').length;
  const notGuests = skipped.filter((e) => NOT_GUEST_SKIPS.has(e.skipCode!)).length;
  return {
    mode,
    hostUuid: host.uuid,
    groups,
    skipped,
    warnings,
    notices: hostNotices(host, mode, haSkipped),
    totals: { guests: acted + skipped.length - notGuests, acting: acted, skipped: skipped.length - notGuests, notGuests, groups: groups.length },
    budget,
    withinGroup,
  };
}

/**
 * Every shutdown group but the last waits, after its last guest stopped, for the longest
 * VM.shutdown_delay of its guests before the next group is asked (the last has nothing to hold back).
 */
function setShutdownDelays(groups: PlanGroup[], delays: ReadonlyMap<string, number>): void {
  for (const [i, group] of groups.entries()) {
    const longest = Math.max(0, ...group.entries.map((e) => delays.get(e.guest.uuid) ?? 0));
    if (i < groups.length - 1 && longest > 0) group.delayAfter = longest;
  }
}

/** Guests with a start under way in the toolstack (xapi's current_operations). */
function startsInFlight(guests: readonly Guest[]): Set<string> {
  return new Set(guests.filter((g) => Object.values(g.currentOperations).some((op) => op === 'start' || op === 'start_on')).map((g) => g.uuid));
}

/**
 * The boot candidates that fit in the host's free memory; the rest move to `skipped`. A resumed
 * start is never refused: running, it holds its memory already (the host's free memory is what is
 * left beside it); halted since, it is not started again and asks none. Halted with its start still
 * in flight, the host's free memory may not count it yet, so it is charged first: later candidates
 * are not planned into memory it is about to take.
 */
function applyMemory(sortedCandidates: PlanEntry[], host: HostInfo, skipped: PlanEntry[], warnings: PlanWarning[], inFlight: ReadonlySet<string>): PlanEntry[] {
  if (!Number.isFinite(host.freeMemory) || host.freeMemory < 0) {
    warnings.push({ guest: null, message: `host free memory is unknown (${String(host.freeMemory)}): memory is not checked before starting guests` });
    return sortedCandidates;
  }
  const charged = sortedCandidates.filter((e) => e.resumed && e.powerState !== 'Running' && inFlight.has(e.guest.uuid));
  const taking = charged.reduce((sum, e) => sum + Math.max(0, e.memoryRequired), 0);
  const refused = allotMemory(sortedCandidates.filter((e) => !e.resumed), host.freeMemory, taking);
  if (refused.size === 0) return sortedCandidates;
  const fitting: PlanEntry[] = [];
  for (const entry of sortedCandidates) {
    const reason = refused.get(entry);
    if (reason === undefined) fitting.push(entry);
    else skipped.push(toSkip(entry, 'not-enough-memory', reason));
  }
  return fitting;
}

function guestWarnings(guest: Guest, policy: EffectivePolicy, decision: Decision, mode: PlanMode): PlanWarning[] {
  const ref = refOf(guest);
  const warnings: PlanWarning[] = policy.problems.map((p) => ({ guest: ref, message: p.message, level: p.level }));
  if (mode !== 'shutdown' || decision.action === 'skip') return warnings;
  if (!guest.cleanShutdown.able && guest.powerState === 'Running') {
    warnings.push({
      guest: ref,
      message: `${label(guest)}: clean shutdown impossible (${guest.cleanShutdown.reason}); it is hard-stopped at once — install the guest tools / PV drivers to let it shut down cleanly`,
    });
  }
  const hardBlocked = guest.blockedOperations.hard_shutdown;
  if (hardBlocked !== undefined) {
    warnings.push({
      guest: ref,
      message: `${label(guest)}: hard_shutdown is blocked in the toolstack (blocked_operations:hard_shutdown = ${JSON.stringify(hardBlocked)}); if its clean shutdown does not finish it cannot be stopped`,
    });
  }
  return warnings;
}

/**
 * The shutdown entry for a guest found running on this host after the groups (started by someone
 * else during the shutdown): its own policy decides — on_stop, shutdown_timeout, auto_poweroff —
 * exactly as if it had been running when the plan was made. null when that policy leaves it alone.
 * Its clean timeout is cut to what remains of the clean budget by the engine, not here.
 */
export function lateShutdownEntry(guest: Guest, host: HostInfo, config: Config): PlanEntry | null {
  const plan = buildPlan({ mode: 'shutdown', guests: [guest], host, config, snapshot: null });
  return plan.groups[0]?.entries[0] ?? null;
}
