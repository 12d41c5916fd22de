import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SourceCursor } from '../../contracts/source';
import { CURSOR_EXPIRED, type IdentitySource, type ListingProgress } from '../../sources/source';
import { type SourceHarness, SOURCE_HARNESSES } from './source-harness';

/**
 * The source contract: what the engine relies on from every source kind, on the kind's real or
 * simulated server. A person is their stable id; memberships come flattened and only for the groups
 * the config names; a cursor yields who changed, and an expired one is a typed failure; a listing
 * resumes where an earlier attempt stopped.
 */
describe.each(SOURCE_HARNESSES)('source contract: %s', (_label, start) => {
  let h: SourceHarness;
  let source: IdentitySource;
  let spillDir: string;
  let seq = 0;
  const unique = (what: string) => `${what}-${Date.now().toString(36)}-${seq++}`;

  beforeAll(async () => {
    h = await start();
    await h.createGroup('Contract Child');
    await h.createGroup('Contract Parent', ['Contract Child']);
    await h.createGroup('Contract Unreferenced');
    source = h.source(['Contract Parent', 'Contract Child']);
    spillDir = mkdtempSync(join(tmpdir(), 'idflow-source-contract-'));
  }, 60_000);
  afterAll(async () => {
    await h?.teardown();
    rmSync(spillDir, { recursive: true, force: true });
  });

  test('the catalogue names the core attributes, and they are all it may be asked for beyond the mapping', () => {
    for (const core of source.catalogue.core) expect(source.catalogue.attributes.has(core)).toBe(true);
    for (const a of h.select) expect(source.catalogue.attributes.has(a)).toBe(true);
  });

  test('one person by stable id and by employee id, with memberships flattened to the referenced groups only', async () => {
    const employeeId = unique('C');
    const id = await h.createPerson({ employeeId, displayName: `Contract ${employeeId}`, groups: ['Contract Child', 'Contract Unreferenced'] });
    const person = (await source.person(id, h.select))!;
    expect(person).toMatchObject({ id, employeeId, enabled: true });
    expect(person.login).not.toBe('');
    // The catalogue's core attributes are in every person's attributes, under the source's names.
    for (const core of source.catalogue.core) expect(person.attributes).toHaveProperty(core);
    expect(person.groups.map((g) => g.displayName).sort()).toEqual(['Contract Child', 'Contract Parent']);
    expect((await source.personByEmployeeId(employeeId, h.select))!.id).toBe(id);
    expect(await source.employeeIdOf(id)).toBe(employeeId);
    expect(await source.person(`${id.slice(0, -4)}ffff`, h.select)).toBeNull();
    expect(await source.personByEmployeeId(unique('nobody'), h.select)).toBeNull();
  });

  test('a rename keeps the person: the same stable id, the new name', async () => {
    const employeeId = unique('R');
    const id = await h.createPerson({ employeeId, displayName: `Before ${employeeId}` });
    await h.update(id, { displayName: `After ${employeeId}` });
    const person = (await source.person(id, h.select))!;
    expect(person.id).toBe(id);
    expect(person.attributes.displayName).toBe(`After ${employeeId}`);
  });

  test('every stable id sharing one employee id is found (a leaver revokes them all); one lookup of several is an error, never a guess', async () => {
    const employeeId = unique('D');
    const a = await h.createPerson({ employeeId, displayName: `Twin A ${employeeId}` });
    const b = await h.createPerson({ employeeId, displayName: `Twin B ${employeeId}` });
    expect((await source.sourceIdsByEmployeeId(employeeId)).map((x) => x.id).sort()).toEqual([a, b].sort());
    await expect(source.personByEmployeeId(employeeId, h.select)).rejects.toThrow(employeeId);
  });

  test('changes since a cursor name who changed by stable id, and removals as removals', async () => {
    const first = await source.changesSince(h.select, null);
    const employeeId = unique('X');
    const created = await h.createPerson({ employeeId, displayName: `Changed ${employeeId}` });
    const gone = await h.createPerson({ employeeId: unique('G'), displayName: `Gone ${employeeId}` });
    let cursor: SourceCursor = first.cursor;
    const mid = await source.changesSince(h.select, cursor);
    cursor = mid.cursor;
    expect(mid.changes.get(created)).toMatchObject({ id: created });
    await h.update(created, { department: 'Moved' });
    await h.remove(gone, true);
    const next = await source.changesSince(h.select, cursor);
    expect(next.changes.get(created)).toMatchObject({ id: created });
    expect(next.changes.get(created)!.removed).toBeUndefined();
    expect(next.changes.get(gone)).toMatchObject({ id: gone, removed: 'deleted' });
    // Nothing happened since: nothing is reported.
    const quiet = await source.changesSince(h.select, next.cursor);
    expect([...quiet.changes.keys()].filter((k) => k === created || k === gone)).toEqual([]);
  });

  test('an expired cursor is a typed, non-retryable failure; starting again from now works', async () => {
    const { cursor } = await source.changesSince(h.select, null);
    await h.expireCursors();
    await expect(source.changesSince(h.select, cursor)).rejects.toMatchObject({ type: CURSOR_EXPIRED, nonRetryable: true });
    await expect(source.changesSince(h.select, null)).resolves.toMatchObject({ cursor: expect.any(Object) });
  });

  test('the whole listing: every live person once, and a second attempt resumes from the first one\'s checkpoint', async () => {
    const progress: ListingProgress[] = [];
    const whole = await source.listAll(h.select, { spillDir, progress: (p) => progress.push(p) });
    expect(whole.identities).toHaveLength(await h.people());
    expect(new Set(whole.identities.map((p) => p.id)).size).toBe(whole.identities.length);
    expect(progress.length).toBeGreaterThan(1);
    // An attempt whose worker died after its first page: the next attempt goes on from there.
    let last: ListingProgress | undefined;
    const died = h.source(['Contract Parent', 'Contract Child']).listAll(h.select, { spillDir, progress: (p) => { last = p; throw new Error('worker died'); } });
    await expect(died).rejects.toThrow('worker died');
    const again = await h.source(['Contract Parent', 'Contract Child']).listAll(h.select, { spillDir, resume: last!.checkpoint });
    expect(again.resumed).toMatchObject({ pages: 1 });
    expect(again.pagesRead).toBe(whole.pages - 1);
    expect(again.identities.map((p) => p.id).sort()).toEqual(whole.identities.map((p) => p.id).sort());
    // A checkpoint from another select is refused, and the listing starts over rather than mixing the two.
    const other = await source.listAll([...h.select, 'jobTitle'], { spillDir, resume: last!.checkpoint });
    expect(other.resumed).toBeNull();
    expect(other.identities).toHaveLength(whole.identities.length);
  });
});
