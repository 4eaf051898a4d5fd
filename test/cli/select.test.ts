import { describe, expect, it } from 'vitest';
import { selectGuests } from '../../src/cli/select.js';
import { guest } from './fixtures.js';

describe('selectGuests (VMs named as xe names them)', () => {
  const web = guest({ name: 'web' });
  const db1 = guest({ name: 'db' });
  const db2 = guest({ name: 'db' });
  const tpl = guest({ name: 'web', isTemplate: true });
  const snap = guest({ name: 'nightly', isSnapshot: true });
  const dom0 = guest({ name: 'Control domain on host: h1', isControlDomain: true });
  const all = [web, db1, db2, tpl, snap, dom0];

  it('resolves uuids (any case) and name-labels, keeping each guest once', () => {
    const sel = selectGuests([web.uuid.toUpperCase(), 'web', db1.uuid], all);
    expect(sel.errors).toEqual([]);
    expect(sel.guests.map((g) => g.uuid)).toEqual([web.uuid, db1.uuid]);
  });

  it('a name shared by several guests is an error listing their uuids', () => {
    const sel = selectGuests(['db'], all);
    expect(sel.guests).toEqual([]);
    expect(sel.errors).toHaveLength(1);
    expect(sel.errors[0]).toContain(db1.uuid);
    expect(sel.errors[0]).toContain(db2.uuid);
    expect(sel.errors[0]).toContain('by uuid');
  });

  it('refuses templates, snapshots and the control domain, saying which it is', () => {
    const sel = selectGuests([tpl.uuid, 'nightly', dom0.uuid], all);
    expect(sel.guests).toEqual([]);
    expect(sel.errors[0]).toMatch(/is a template/);
    expect(sel.errors[1]).toMatch(/is a snapshot/);
    expect(sel.errors[2]).toMatch(/is the control domain/);
  });

  it('names an unknown VM and says where names come from; other arguments still resolve', () => {
    const sel = selectGuests(['nope', 'web'], all);
    expect(sel.errors).toEqual(['VM "nope" not found: no VM has this uuid or name-label (xe vm-list shows the names; names are case-sensitive)']);
    expect(sel.guests.map((g) => g.name)).toEqual(['web']);
  });
});
