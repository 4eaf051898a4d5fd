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
    expect(sel.errors).toEqual(['VM "nope" not found: no VM has this uuid (or uuid prefix) or name-label (xe vm-list shows the names; names are case-sensitive)']);
    expect(sel.guests.map((g) => g.name)).toEqual(['web']);
  });

  it('accepts a unique uuid prefix, as the tables show it; an ambiguous one lists the matches', () => {
    const a = guest({ name: 'a', uuid: '1234abcd-0000-4000-8000-000000000001' });
    const b = guest({ name: 'b', uuid: '1234abce-0000-4000-8000-000000000002' });
    const sel = selectGuests(['1234abcd', '1234ABCE-0000'], [a, b]);
    expect(sel.errors).toEqual([]);
    expect(sel.guests.map((g) => g.name)).toEqual(['a', 'b']);
    const amb = selectGuests(['1234ab'], [a, b]);
    expect(amb.guests).toEqual([]);
    expect(amb.errors[0]).toContain('matches 2 VMs');
    expect(amb.errors[0]).toContain(a.uuid);
    expect(amb.errors[0]).toContain(b.uuid);
  });
});
