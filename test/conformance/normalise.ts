// The normalisation rules of the conformance suite: values that legitimately differ between the
// recording (a real xapi on its own database, wall clock and simulated hypervisor) and a replay on
// our simulator. Each rule says why. Anything a rule does not cover must match exactly, or be
// listed in known-differences.ts (and docs/SIMULATOR.md) with why it stays.
//
// Not a rule but identity: refs (OpaqueRef:…) and uuids are mapped between the two runs — the first
// time a recorded id meets a simulator id at the same place they are bound, and every later
// occurrence (in answers, in error parameters, inside strings, in the parameters the replay sends)
// must agree with that binding.

import type { Typed } from './traces.js';

export interface ValueSite {
  call: string;
  /** The recorded error code when the answer is a Failure. */
  errorCode?: string;
  /** Path from the answer's top, e.g. ["Value", "memory_static_max"]; struct keys and array indexes. */
  path: string[];
  rec: Typed;
  sim: Typed;
}

export interface Rule {
  id: string;
  why: string;
  applies(site: ValueSite): boolean;
}

const last = (s: ValueSite): string => s.path[s.path.length - 1] ?? '';
const errorCode = (s: ValueSite): string => s.errorCode ?? '';
const EPOCH = '19700101T00:00:00Z';
/** xapi's datetime (JSON-RPC sends it as a plain string). */
const DATETIME = /^\d{8}T\d\d:\d\d:\d\dZ$/;
const both = (s: ValueSite, t: Typed['t']): boolean => s.rec.t === t && s.sim.t === t;
const str = (v: Typed): string => (v.t === 'str' || v.t === 'int' || v.t === 'date' ? v.v : '');

export const RULES: Rule[] = [
  {
    id: 'datetime',
    why: 'wall-clock times of two different runs; only the type, the format and whether the value is the epoch ("unset") must agree',
    applies: (s) => (both(s, 'date') || both(s, 'str')) && DATETIME.test(str(s.rec)) && DATETIME.test(str(s.sim)) && (str(s.rec) === EPOCH) === (str(s.sim) === EPOCH),
  },
  {
    id: 'memory-error-figure',
    why: 'HOST_NOT_ENOUGH_FREE_MEMORY carries the bytes needed (with xapi\'s overhead) and free on the host: memory figures of a simulated host; the code and that both are decimal int64 strings must agree',
    applies: (s) => s.path[0] === 'ErrorDescription' && both(s, 'str') && /^\d+$/.test(s.rec.v) && /^\d+$/.test(s.sim.v) && s.path.length === 2 && Number(s.path[1]) > 0 && errorCode(s) === 'HOST_NOT_ENOUGH_FREE_MEMORY',
  },
  {
    id: 'memory-figure',
    why: 'memory figures measured or computed by the host (overheads, actual use, total and free): the recording ran on the xenopsd simulator (1 TiB, no rrdd data, memory_actual 0), ours computes its own. Configured figures (static/dynamic ranges, target) are not normalised. Int64 type must agree',
    applies: (s) => (both(s, 'str') || both(s, 'int')) && /^-?\d+$/.test(str(s.rec)) && /^-?\d+$/.test(str(s.sim)) && /^(memory_(overhead|actual|total|free)|memory)$/.test(last(s)),
  },
  {
    id: 'domid',
    why: 'domain ids count starts since the host booted; only "-1 when halted, ≥ 0 when running" must agree',
    applies: (s) => last(s) === 'domid' && (both(s, 'str') || both(s, 'int')) && (Number(str(s.rec)) < 0) === (Number(str(s.sim)) < 0),
  },
  {
    id: 'event-counter',
    why: 'event ids and event.from tokens count every change of a database with a different history; their format (id a decimal string, token two 20-digit counters) must agree',
    applies: (s) =>
      ((last(s) === 'id' && s.path.includes('events')) || last(s) === 'token' || s.call === 'event.get_current_id') &&
      both(s, 'str') &&
      (/^\d{20},\d{20}$/.test(s.rec.v) ? /^\d{20},\d{20}$/.test(s.sim.v) : /^\d+$/.test(s.rec.v) && /^\d+$/.test(s.sim.v)),
  },
  {
    id: 'valid-ref-count',
    why: 'how many objects of a class exist (sessions, tasks) depends on the history of the database; the class names and the <i4> type must agree',
    applies: (s) => s.path.includes('valid_ref_counts') && both(s, 'int'),
  },
  {
    id: 'clock-seconds',
    why: 'host boot/agent start times and legacy event timestamps are wall-clock seconds written "N." by OCaml',
    applies: (s) => both(s, 'str') && /^\d+\.$/.test(s.rec.v) && /^\d+\.$/.test(s.sim.v) && ['boot_time', 'agent_start_time', 'timestamp'].includes(last(s)),
  },
  {
    id: 'cancel-points',
    why: 'xapi counts the internal cancellation checkpoints a task passed (debug_info:cancel_points_seen); the number depends on xapi internals, presence and type must agree',
    applies: (s) => last(s) === 'debug_info:cancel_points_seen' && both(s, 'str') && /^\d+$/.test(s.sim.v),
  },
  {
    id: 'vcpu-load',
    why: 'CPU utilisation samples (VCPUs_utilisation) are measurements; the key set and the <double> type must agree',
    applies: (s) => s.path.includes('VCPUs_utilisation') && both(s, 'double'),
  },
];

/** Struct keys that are per-call random (`DummyRef:|<uuid>|VM.get_boot_record`). */
export function normaliseKey(key: string): string {
  return key.replace(/^DummyRef:\|[0-9a-f-]{36}\|/, 'DummyRef:|<uuid>|');
}

export const SET_ORDER_RULE = {
  id: 'set-order',
  why: 'XenAPI sets (allowed_operations, get_all lists, tags…) are unordered; the same members in another order match',
};

export const TASK_RAN_AHEAD_RULE = {
  id: 'task-ran-ahead',
  why: 'the recording polled this task while it was still pending; the replay cannot stop the simulated operation at the same instant, so when the simulator\'s task already finished only the record\'s shape (field set and types) is compared',
};

export const EVENT_BATCH_RULE = {
  id: 'event-batch',
  why: 'which objects an event batch holds and in what order is decided by timing; the classes and operations of the events (as a multiset) and each event\'s fields and types must agree, and a snapshot is compared by its field set and types (records are compared in full by the get_record answers)',
};

export const HTML_ERROR_RULE = {
  id: 'html-error-text',
  why: 'an HTTP 500 page carries the text of an OCaml exception; the status, the content type and that it is HTML must agree',
};
