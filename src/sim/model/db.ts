// The simulated database: one table per class, each row a wire-shaped record, and one global
// generation counter. Every write bumps the generation and stamps the row, which is what event.from
// reads: "every object whose row changed after the token's generation", coalesced per object.
// Deleted rows leave a tombstone so that event.from can report `del` (without a snapshot).

import type { RpcStruct } from '../wire/values.js';

export interface Row {
  cls: string;
  ref: string;
  record: RpcStruct;
  created: number;
  modified: number;
}

export interface Tombstone {
  cls: string;
  ref: string;
  created: number;
  deleted: number;
}

export type ChangeListener = () => void;

export class Database {
  /** Lower-case class name → ref → row. Order of insertion is the DB order clients see. */
  readonly tables = new Map<string, Map<string, Row>>();
  private tombstones: Tombstone[] = [];
  private listeners = new Set<ChangeListener>();
  private byUuid = new Map<string, Map<string, string>>();
  /** Fields sim.corrupt_field overwrote, with the value each held: a real write puts it back. */
  private corrupted = new Map<Row, Map<string, RpcStruct[string] | undefined>>();
  generation = 0;

  constructor(classes: string[]) {
    for (const c of classes) {
      this.tables.set(c.toLowerCase(), new Map());
      this.byUuid.set(c.toLowerCase(), new Map());
    }
  }

  table(cls: string): Map<string, Row> {
    const t = this.tables.get(cls.toLowerCase());
    if (!t) throw new Error(`no table ${cls}`);
    return t;
  }

  get(cls: string, ref: string): RpcStruct | undefined {
    return this.tables.get(cls.toLowerCase())?.get(ref)?.record;
  }

  refByUuid(cls: string, uuid: string): string | undefined {
    return this.byUuid.get(cls.toLowerCase())?.get(uuid.toLowerCase());
  }

  insert(cls: string, ref: string, record: RpcStruct): RpcStruct {
    const gen = ++this.generation;
    const key = cls.toLowerCase();
    this.table(key).set(ref, { cls: key, ref, record, created: gen, modified: gen });
    if (typeof record.uuid === 'string') this.byUuid.get(key)!.set(record.uuid.toLowerCase(), ref);
    this.changed();
    return record;
  }

  /** Applies a patch to a row and stamps it; returns false when the row does not exist. */
  update(cls: string, ref: string, patch: RpcStruct): boolean {
    const row = this.tables.get(cls.toLowerCase())?.get(ref);
    if (!row) return false;
    const originals = this.corrupted.get(row);
    // A real write (not event.inject's empty touch) is what a real xapi would re-serialise the row on.
    if (originals && Object.keys(patch).length > 0) {
      for (const [field, value] of originals) {
        if (value === undefined) delete row.record[field];
        else row.record[field] = value;
      }
      this.corrupted.delete(row);
    }
    Object.assign(row.record, patch);
    row.modified = ++this.generation;
    this.changed();
    return true;
  }

  /**
   * Fault injection: `field` of the row holds `value` (of the wrong type or shape) until the row's
   * next real write. Stamped like a write, so event.from carries the malformed snapshot too.
   */
  corrupt(cls: string, ref: string, field: string, value: RpcStruct[string]): boolean {
    const row = this.tables.get(cls.toLowerCase())?.get(ref);
    if (!row) return false;
    const originals = this.corrupted.get(row) ?? new Map<string, RpcStruct[string] | undefined>();
    if (!originals.has(field)) originals.set(field, row.record[field]);
    this.corrupted.set(row, originals);
    row.record[field] = value;
    row.modified = ++this.generation;
    this.changed();
    return true;
  }

  /** Stamps a row as modified without changing it (event.inject). */
  touch(cls: string, ref: string): boolean {
    return this.update(cls, ref, {});
  }

  delete(cls: string, ref: string): boolean {
    const key = cls.toLowerCase();
    const row = this.tables.get(key)?.get(ref);
    if (!row) return false;
    this.table(key).delete(ref);
    if (typeof row.record.uuid === 'string') this.byUuid.get(key)!.delete(row.record.uuid.toLowerCase());
    this.tombstones.push({ cls: key, ref, created: row.created, deleted: ++this.generation });
    if (this.tombstones.length > 20_000) this.tombstones.splice(0, 10_000);
    this.changed();
    return true;
  }

  /** Rows changed after `since` (coalesced) and tombstones of rows that existed at `since`. */
  changesSince(since: number, accept: (cls: string, ref: string) => boolean): { rows: Row[]; deleted: Tombstone[] } {
    const rows: Row[] = [];
    for (const [cls, table] of this.tables) {
      for (const row of table.values()) if (row.modified > since && accept(cls, row.ref)) rows.push(row);
    }
    const deleted: Tombstone[] = [];
    for (let i = this.tombstones.length - 1; i >= 0; i--) {
      const t = this.tombstones[i]!;
      if (t.deleted <= since) break;
      if (t.created <= since && accept(t.cls, t.ref)) deleted.push(t);
    }
    return { rows, deleted };
  }

  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [cls, table] of this.tables) out[cls] = table.size;
    return out;
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const l of [...this.listeners]) l();
  }
}
