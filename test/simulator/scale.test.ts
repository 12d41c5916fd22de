/** 10,000 users / 500 groups: start-up and paging times are logged (no timing assertions). */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { User } from '@microsoft/microsoft-graph-types';
import { startSimulator } from '../../simulator';
import { Harness, startHarness } from './harness';

const stateDir = mkdtempSync(path.join(os.tmpdir(), 'idflow-sim-cold-'));
let h: Harness;
const timings: string[] = [];

beforeAll(async () => {
  const cold = await startSimulator({ stateDir, users: 300 });
  timings.push(`cold start (new CA + certs, 300 users): ${cold.timings.totalMs} ms (certs ${cold.timings.generatedCertsMs} ms)`);
  await cold.close();
  const warm = await startSimulator({ stateDir, users: 300 });
  timings.push(`warm start (300 users): ${warm.timings.totalMs} ms`);
  expect(warm.timings.generatedCertsMs).toBe(0);
  await warm.close();
  const t0 = Date.now();
  h = await startHarness({ users: 10_000, groups: 500 });
  timings.push(`start with 10000 users / 500 groups: ${Date.now() - t0} ms (seed ${h.sim.timings.seedMs} ms)`);
});
afterAll(async () => {
  await h?.close();
  rmSync(stateDir, { recursive: true, force: true });
  console.log(`simulator timings:\n  ${timings.join('\n  ')}`);
});

test('10,000 users page through at $top=999 with the Graph client', async () => {
  const pageMs: number[] = [];
  const ids = new Set<string>();
  let url: string | undefined = '/users?$top=999&$select=id,employeeId,displayName,accountEnabled,department,jobTitle,mail,userPrincipalName';
  const t0 = Date.now();
  while (url) {
    const t = Date.now();
    const res: { value: User[]; '@odata.nextLink'?: string } = await h.graph.api(url).get();
    pageMs.push(Date.now() - t);
    for (const u of res.value) ids.add(u.id!);
    url = res['@odata.nextLink'];
  }
  expect(ids.size).toBe(10_000);
  expect(pageMs.length).toBe(11);
  timings.push(`10k users, $top=999: ${pageMs.length} pages in ${Date.now() - t0} ms; per page (client round trip) max ${Math.max(...pageMs)} ms, median ${pageMs.sort((a, b) => a - b)[5]} ms`);
});

test('filtered query, memberships and a delta round at 10k', async () => {
  let t = Date.now();
  const res = await h.graph.api('/users').filter("startswith(displayName,'a')").select('id').top(999).get();
  timings.push(`10k startswith filter (${res.value.length} hits): ${Date.now() - t} ms`);
  const ada = h.sim.directory.userByEmployeeId('E1001')!;
  t = Date.now();
  const tm = await h.graph.api(`/users/${ada.id}/transitiveMemberOf`).select('displayName').get();
  timings.push(`transitiveMemberOf (${tm.value.length} groups): ${Date.now() - t} ms`);
  const eng = h.sim.directory.groupByName('Engineering')!;
  t = Date.now();
  const tmem = await h.raw('GET', `/v1.0/groups/${eng.id}/transitiveMembers?$select=id&$top=999`);
  timings.push(`Engineering transitiveMembers first page (${tmem.json.value.length}): ${Date.now() - t} ms`);

  t = Date.now();
  let url: string | undefined = '/users/delta?$select=id,displayName,employeeId';
  let n = 0;
  let pages = 0;
  for (;;) {
    const r: { value: unknown[]; '@odata.nextLink'?: string; '@odata.deltaLink'?: string } = await h.graph.api(url!).header('Prefer', 'odata.maxpagesize=999').get();
    n += r.value.length;
    pages++;
    if (!r['@odata.nextLink']) break;
    url = r['@odata.nextLink'];
  }
  expect(n).toBe(10_000);
  timings.push(`users delta initial round: ${pages} pages in ${Date.now() - t} ms`);
  t = Date.now();
  let groupsPages = 0;
  let gurl: string | undefined = '/groups/delta?$select=displayName,members';
  while (gurl) {
    const r: { '@odata.nextLink'?: string } = await h.graph.api(gurl).get();
    groupsPages++;
    gurl = r['@odata.nextLink'];
  }
  timings.push(`groups delta initial round (500 groups, members split at 50): ${groupsPages} pages in ${Date.now() - t} ms`);
});
