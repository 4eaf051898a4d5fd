// Compares one recorded answer with the simulator's, field by field and type by type, binding
// refs and uuids between the two runs (IdMap) and applying the normalisation rules (normalise.ts).

import { EVENT_BATCH_RULE, RULES, SET_ORDER_RULE, TASK_RAN_AHEAD_RULE, normaliseKey, type ValueSite } from './normalise.js';
import type { Typed } from './traces.js';

export type DiffKind = 'type' | 'value' | 'missing-field' | 'extra-field' | 'length' | 'id-binding' | 'http' | 'no-answer' | 'methods';

export interface Diff {
  path: string;
  kind: DiffKind;
  rec: string;
  sim: string;
}

export interface Comparison {
  diffs: Diff[];
  /** Ids of the normalisation rules that were needed. */
  normalised: Set<string>;
}

const ID = /OpaqueRef:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const WHOLE_ID = new RegExp(`^(?:${ID.source})$`);
const HAS_ID = new RegExp(ID.source);

/** Recorded ids ↔ simulator ids. */
export class IdMap {
  readonly recToSim = new Map<string, string>();
  readonly simToRec = new Map<string, string>();
  /** event.from tokens: a recorded token sent again stands for the simulator's token at that place. */
  readonly tokens = new Map<string, string>();

  /** Binds rec to sim, or says whether an existing binding agrees. */
  bind(rec: string, sim: string): boolean {
    const known = this.recToSim.get(rec);
    if (known !== undefined) return known === sim;
    if (this.simToRec.has(sim)) return this.simToRec.get(sim) === rec;
    if (rec.startsWith('OpaqueRef:') !== sim.startsWith('OpaqueRef:')) return false;
    this.recToSim.set(rec, sim);
    this.simToRec.set(sim, rec);
    return true;
  }

  /** A recorded value with every bound id replaced by the simulator's (for the parameters sent). */
  translate(v: unknown): unknown {
    if (typeof v === 'string') return this.tokens.get(v) ?? v.replace(ID, (id) => this.recToSim.get(id) ?? id);
    if (Array.isArray(v)) return v.map((x) => this.translate(x));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [this.translate(k) as string, this.translate(x)]));
    return v;
  }
}

function show(v: Typed | undefined): string {
  if (!v) return '(absent)';
  switch (v.t) {
    case 'struct':
      return `<struct ${v.v.size} members>`;
    case 'array':
      return `<array ${v.v.length}>`;
    case 'nil':
      return '<nil>';
    default: {
      const s = JSON.stringify(v.v);
      return `<${v.t}> ${s.length > 120 ? s.slice(0, 117) + '…' : s}`;
    }
  }
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Matches two strings that may differ only where the recording has ids, binding those ids. */
function matchWithIds(ids: IdMap, rec: string, sim: string): boolean {
  if (rec === sim && !HAS_ID.test(rec)) return true;
  const recIds = rec.match(ID) ?? [];
  if (recIds.length === 0) return rec === sim;
  const pattern = new RegExp('^' + rec.split(ID).map(escapeRe).join(`(${ID.source}|OpaqueRef:NULL)`) + '$');
  const m = pattern.exec(sim);
  if (!m) return false;
  return recIds.every((id, i) => ids.bind(id, m[i + 1]!));
}

const scalar = (v: Typed): boolean => v.t !== 'struct' && v.t !== 'array';

function scalarKey(v: Typed): string {
  return `${v.t}:${'v' in v ? String(v.v) : ''}`;
}

export class Comparer {
  readonly diffs: Diff[] = [];
  readonly normalised = new Set<string>();

  /** The recorded error code when the answer is a Failure (some rules are for one error). */
  errorCode?: string;

  constructor(
    private readonly ids: IdMap,
    private readonly call: string,
  ) {}

  private diff(path: string[], kind: DiffKind, rec: Typed | undefined, sim: Typed | undefined): void {
    this.diffs.push({ path: path.join('.'), kind, rec: show(rec), sim: show(sim) });
  }

  compare(rec: Typed, sim: Typed, path: string[] = []): void {
    if (rec.t !== sim.t) return this.diff(path, 'type', rec, sim);
    // An event batch is compared as a batch (compareEvents), not item by item.
    if (rec.t === 'array' && path[path.length - 1] === 'events' && path.length === 2) return;
    switch (rec.t) {
      case 'struct':
        return this.struct(rec.v, (sim as typeof rec).v, path);
      case 'array':
        return this.array(rec.v, (sim as typeof rec).v, path);
      case 'nil':
        return;
      case 'str':
        if (matchWithIds(this.ids, rec.v, (sim as typeof rec).v)) return;
        break;
      default:
        if (rec.v === (sim as typeof rec).v) return;
    }
    if (path[path.length - 1] === 'token' && rec.t === 'str' && sim.t === 'str') this.ids.tokens.set(rec.v, sim.v);
    const site: ValueSite = { call: this.call, path, rec, sim, ...(this.errorCode ? { errorCode: this.errorCode } : {}) };
    const rule = RULES.find((r) => r.applies(site));
    if (rule) this.normalised.add(rule.id);
    else this.diff(path, WHOLE_ID.test(String('v' in rec ? rec.v : '')) ? 'id-binding' : 'value', rec, sim);
  }

  private struct(rec: Map<string, Typed>, sim: Map<string, Typed>, path: string[]): void {
    const recKeys = [...rec.keys()];
    const keyedById = recKeys.length > 0 && recKeys.every((k) => WHOLE_ID.test(k) || k.startsWith('DummyRef:'));
    if (keyedById || (rec.size === 0 && [...sim.keys()].every((k) => WHOLE_ID.test(k)) && sim.size > 0)) return this.byIdStruct(rec, sim, path);
    const simNorm = new Map([...sim].map(([k, v]) => [normaliseKey(k), v]));
    for (const [k, v] of rec) {
      const key = normaliseKey(k);
      const other = simNorm.get(key);
      if (other === undefined) this.diff([...path, k], 'missing-field', v, undefined);
      else this.compare(v, other, [...path, k]);
    }
    const recNorm = new Set(recKeys.map(normaliseKey));
    for (const [k, v] of simNorm) if (!recNorm.has(k)) this.diff([...path, k], 'extra-field', undefined, v);
  }

  /** Maps keyed by ref (get_all_records, current_operations): pair by binding, then by uuid/name, then by order. */
  private byIdStruct(rec: Map<string, Typed>, sim: Map<string, Typed>, path: string[]): void {
    const simLeft = new Map(sim);
    const pairs: Array<[string, Typed, string | undefined]> = [];
    const recLeft: Array<[string, Typed]> = [];
    for (const [k, v] of rec) {
      const bound = this.ids.recToSim.get(k);
      if (bound !== undefined && simLeft.has(bound)) {
        pairs.push([k, v, bound]);
        simLeft.delete(bound);
      } else if (k.startsWith('DummyRef:')) {
        const same = [...simLeft.keys()].find((s) => normaliseKey(s) === normaliseKey(k));
        if (same) simLeft.delete(same);
        pairs.push([k, v, same]);
      } else recLeft.push([k, v]);
    }
    const label = (v: Typed): string => (v.t === 'struct' ? String((v.v.get('name_label') as { v?: unknown } | undefined)?.v ?? (v.v.get('name') as { v?: unknown } | undefined)?.v ?? '') : '');
    for (const [k, v] of recLeft) {
      const uuid = v.t === 'struct' ? (v.v.get('uuid') as { v?: string } | undefined)?.v : undefined;
      const byUuid = uuid && this.ids.recToSim.get(uuid);
      let match = [...simLeft].find(([, sv]) => byUuid && sv.t === 'struct' && (sv.v.get('uuid') as { v?: string } | undefined)?.v === byUuid)?.[0];
      match ??= [...simLeft].find(([, sv]) => label(sv) !== '' && label(sv) === label(v))?.[0];
      match ??= [...simLeft.keys()][0];
      if (match !== undefined) {
        simLeft.delete(match);
        if (!this.ids.bind(k, match)) this.diff([...path, k], 'id-binding', { t: 'str', v: k }, { t: 'str', v: match });
      }
      pairs.push([k, v, match]);
    }
    for (const [k, v, s] of pairs) {
      if (s === undefined) this.diff([...path, k], 'missing-field', v, undefined);
      else this.compare(v, sim.get(s)!, [...path, normaliseKey(k)]);
    }
    for (const [k, v] of simLeft) this.diff([...path, normaliseKey(k)], 'extra-field', undefined, v);
  }

  private array(rec: Typed[], sim: Typed[], path: string[]): void {
    const ordered = path.includes('ErrorDescription') || path.includes('data');
    if (!ordered && rec.every(scalar) && sim.every(scalar)) return this.scalarSet(rec, sim, path);
    if (rec.length !== sim.length) return this.diff(path, 'length', { t: 'int', v: String(rec.length) }, { t: 'int', v: String(sim.length) });
    rec.forEach((r, i) => this.compare(r, sim[i]!, [...path, String(i)]));
  }

  private scalarSet(rec: Typed[], sim: Typed[], path: string[]): void {
    if (rec.length !== sim.length) {
      const recKeys = rec.map((v) => (v.t === 'str' ? this.ids.translate(v.v) : scalarKey(v)));
      const simKeys = new Set(sim.map((v) => (v.t === 'str' ? v.v : scalarKey(v))));
      const missing = recKeys.filter((k) => !simKeys.has(k as string));
      const extra = [...simKeys].filter((k) => !recKeys.includes(k));
      this.diffs.push({ path: path.join('.'), kind: 'length', rec: `${rec.length} items${missing.length ? `; sim lacks ${missing.slice(0, 8).join(', ')}` : ''}`, sim: `${sim.length} items${extra.length ? `; sim adds ${extra.slice(0, 8).join(', ')}` : ''}` });
      return;
    }
    // First the same order (binds ids positionally), then as a set.
    const trial = new Comparer(new IdMapView(this.ids), this.call);
    rec.forEach((r, i) => trial.compare(r, sim[i]!, [...path, String(i)]));
    if (trial.diffs.length === 0) {
      (trial.ids as IdMapView).commit();
      trial.normalised.forEach((n) => this.normalised.add(n));
      return;
    }
    const simLeft = [...sim];
    for (const r of rec) {
      const key = r.t === 'str' ? (this.ids.translate(r.v) as string) : scalarKey(r);
      const at = simLeft.findIndex((s) => (s.t === 'str' ? s.v : scalarKey(s)) === key);
      if (at >= 0) simLeft.splice(at, 1);
    }
    if (simLeft.length === 0) this.normalised.add(SET_ORDER_RULE.id);
    else this.diffs.push({ path: path.join('.'), kind: 'value', rec: rec.map((r) => ('v' in r ? String(r.v) : r.t)).join(', '), sim: sim.map((s) => ('v' in s ? String(s.v) : s.t)).join(', ') });
  }

  /** An event.from / event.next batch: the multiset of (class, operation), then each event's shape. */
  compareEvents(rec: Typed[], sim: Typed[], path: string[]): void {
    const key = (e: Typed): string => {
      if (e.t !== 'struct') return e.t;
      const f = (n: string): string => String((e.v.get(n) as { v?: unknown } | undefined)?.v ?? '');
      return `${f('class')}/${f('operation')}`;
    };
    const recKeys = rec.map(key).sort();
    const simKeys = sim.map(key).sort();
    if (recKeys.join(' ') !== simKeys.join(' ')) {
      this.diffs.push({ path: path.join('.'), kind: 'value', rec: summarise(recKeys), sim: summarise(simKeys) });
    }
    const simByKey = new Map<string, Typed[]>();
    for (const e of sim) simByKey.set(key(e), [...(simByKey.get(key(e)) ?? []), e]);
    const shapes = new Set<string>();
    for (const e of rec) {
      const other = simByKey.get(key(e))?.shift();
      if (!other || e.t !== 'struct' || other.t !== 'struct') continue;
      const cls = key(e);
      for (const [k, v] of e.v) {
        const s = other.v.get(k);
        const at = [...path, cls, k];
        if (!s) this.diff(at, 'missing-field', v, undefined);
        else if (k === 'snapshot') {
          const shape = `${cls}:snapshot`;
          if (!shapes.has(shape)) this.shape(v, s, at);
          shapes.add(shape);
        } else if (k === 'ref') {
          if (v.t !== s.t) this.diff(at, 'type', v, s);
        } else this.compare(v, s, at);
      }
      for (const [k, s] of other.v) if (!e.v.has(k)) this.diff([...path, cls, k], 'extra-field', undefined, s);
    }
    this.normalised.add(EVENT_BATCH_RULE.id);
  }

  /** Field set and types only (recursively for structs with fixed fields). */
  shape(rec: Typed, sim: Typed, path: string[]): void {
    if (rec.t !== sim.t) return this.diff(path, 'type', rec, sim);
    if (rec.t !== 'struct' || sim.t !== 'struct') return;
    const idKeyed = [...rec.v.keys(), ...sim.v.keys()].some((k) => WHOLE_ID.test(k) || k.startsWith('DummyRef:'));
    if (idKeyed || path[path.length - 1]?.endsWith('config') || ['platform', 'VCPUs_params', 'xenstore_data', 'blocked_operations', 'os_version', 'PV_drivers_version', 'other', 'networks'].includes(path[path.length - 1] ?? '')) return;
    for (const [k, v] of rec.v) {
      const s = sim.v.get(k);
      if (!s) this.diff([...path, k], 'missing-field', v, undefined);
      else this.shape(v, s, [...path, k]);
    }
    for (const [k, s] of sim.v) if (!rec.v.has(k)) this.diff([...path, k], 'extra-field', undefined, s);
  }

  markTaskRanAhead(): void {
    this.normalised.add(TASK_RAN_AHEAD_RULE.id);
  }
}

function summarise(keys: string[]): string {
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  return [...counts].map(([k, n]) => (n > 1 ? `${k}×${n}` : k)).join(', ') || '(none)';
}

/** A tentative view of an IdMap: binds privately, commits on success (for set comparisons). */
class IdMapView extends IdMap {
  constructor(private readonly base: IdMap) {
    super();
    for (const [k, v] of base.recToSim) this.recToSim.set(k, v);
    for (const [k, v] of base.simToRec) this.simToRec.set(k, v);
  }

  commit(): void {
    for (const [k, v] of this.recToSim) if (!this.base.recToSim.has(k)) this.base.bind(k, v);
  }
}
