/** Fault injection (throttling, 5xx, latency, dropped connections), the request log and the admin API basics. */
import { GraphError, RetryHandlerOptions } from '@microsoft/microsoft-graph-client';
import type { User } from '@microsoft/microsoft-graph-types';
import { GRAPH_SCOPE, Harness, startHarness } from './harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ users: 30 });
});
afterAll(async () => {
  await h.close();
});
afterEach(async () => {
  await h.raw('DELETE', '/_admin/faults');
});

const fault = async (spec: object) => {
  const r = await h.raw('POST', '/_admin/faults', { body: spec });
  expect(r.status).toBe(201);
  return r.json as { id: string };
};
const since = async (n: number) => (await h.raw('GET', `/_admin/requests?since=${n}`)).json as { value: { path: string; status: number; area: string; retryAttempt?: number; faultId?: string }[]; last: number };

test('429 with Retry-After: 0 twice, then success through the Graph client RetryHandler', async () => {
  await h.credential.getToken(GRAPH_SCOPE); // token requests are not faulted anyway; keep the log focused
  const start = (await since(0)).last;
  await fault({ status: 429, retryAfter: 0, count: 2, pathPrefix: '/v1.0/users' });
  const t0 = Date.now();
  const res = await h.graph.api('/users').select('id,displayName').top(5).get();
  expect((res.value as User[]).length).toBe(5);
  expect(Date.now() - t0).toBeLessThan(2000);
  const log = (await since(start)).value.filter((e) => e.area === 'graph');
  expect(log.map((e) => e.status)).toEqual([429, 429, 200]);
  expect(log.map((e) => e.retryAttempt ?? 0)).toEqual([0, 1, 2]);
  expect(log[0]!.faultId).toBeTruthy();
});

test('the 429 response carries Retry-After, x-ms-throttle-* headers and a TooManyRequests error body', async () => {
  await fault({ status: 429, retryAfter: 0, count: 1 });
  const r = await h.raw('GET', '/v1.0/users');
  expect(r.status).toBe(429);
  expect(r.headers['retry-after']).toBe('0');
  expect(r.headers['x-ms-throttle-scope']).toBe(`Tenant_Application/ReadWrite/${h.sim.clientId}/${h.sim.tenantId}`);
  expect(r.headers['x-ms-throttle-information']).toBe('ResourceUnitLimitExceeded');
  expect(r.json.error.code).toBe('TooManyRequests');
  expect(r.json.error.innerError['request-id']).toBe(r.headers['request-id']);
  expect((await h.raw('GET', '/v1.0/users?$top=1')).status).toBe(200); // count used up
});

test('429 without Retry-After is possible (retryAfter: null)', async () => {
  await fault({ status: 429, retryAfter: null, count: 1 });
  const r = await h.raw('GET', '/v1.0/users');
  expect(r.status).toBe(429);
  expect(r.headers['retry-after']).toBeUndefined();
});

test('persistent throttling reaches the caller as GraphError 429 after the retries', async () => {
  await fault({ status: 429, retryAfter: 0 });
  const start = (await since(0)).last;
  const err = await h.graph
    .api('/users')
    .middlewareOptions([new RetryHandlerOptions(0, 2)])
    .get()
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(GraphError);
  expect((err as GraphError).statusCode).toBe(429);
  expect((err as GraphError).code).toBe('TooManyRequests');
  expect((await since(start)).value.filter((e) => e.area === 'graph')).toHaveLength(3);
});

test('503 is retried by the client, 500 is not', async () => {
  await fault({ status: 503, retryAfter: 0, count: 1 });
  expect((await h.graph.api('/groups').select('id').get()).value.length).toBeGreaterThan(0);
  await fault({ status: 500, count: 1 });
  const err = (await h.graph
    .api('/groups')
    .get()
    .catch((e: unknown) => e)) as GraphError;
  expect([err.statusCode, err.code]).toEqual([500, 'UnknownError']);
});

test('ratio, pathPrefix, method and duration scoping', async () => {
  await fault({ status: 503, ratio: 1, pathPrefix: '/v1.0/groups', durationMs: 60_000 });
  expect((await h.raw('GET', '/v1.0/users?$top=1')).status).toBe(200);
  expect((await h.raw('GET', '/v1.0/groups')).status).toBe(503);
  await h.raw('DELETE', '/_admin/faults');
  await fault({ status: 503, ratio: 0 });
  expect((await h.raw('GET', '/v1.0/groups')).status).toBe(200);
  await h.raw('DELETE', '/_admin/faults');
  await fault({ status: 504, method: 'GET', durationMs: 50 });
  expect((await h.raw('GET', '/v1.0/groups')).status).toBe(504);
  await new Promise((r) => setTimeout(r, 80));
  expect((await h.raw('GET', '/v1.0/groups')).status).toBe(200);
});

test('latency-only faults delay answers', async () => {
  await fault({ latencyMs: 200, count: 1 });
  const t0 = Date.now();
  expect((await h.raw('GET', '/v1.0/users?$top=1')).status).toBe(200);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
});

test('dropped connections surface as network errors', async () => {
  await fault({ drop: true, count: 1 });
  await expect(h.raw('GET', '/v1.0/users')).rejects.toThrow(/socket hang up|ECONNRESET/);
});

test('the token endpoint is faulted only with includeToken', async () => {
  const form = { grant_type: 'client_credentials', client_id: h.sim.clientId, client_secret: h.sim.clientSecret, scope: GRAPH_SCOPE };
  await fault({ status: 503 });
  expect((await h.raw('POST', `/${h.sim.tenantId}/oauth2/v2.0/token`, { token: null, form })).status).toBe(200);
  await fault({ status: 429, retryAfter: 0, includeToken: true });
  const r = await h.raw('POST', `/${h.sim.tenantId}/oauth2/v2.0/token`, { token: null, form });
  expect(r.status).toBe(429);
  expect(r.json.error).toBe('temporarily_unavailable');
});

test('bad fault specs are rejected; faults can be listed and removed one by one', async () => {
  expect((await h.raw('POST', '/_admin/faults', { body: { status: 429, colour: 'red' } })).status).toBe(400);
  expect((await h.raw('POST', '/_admin/faults', { body: { count: 3 } })).status).toBe(400);
  const f = await fault({ status: 503 });
  expect((await h.raw('GET', '/_admin/faults')).json.value.map((x: { id: string }) => x.id)).toEqual([f.id]);
  expect((await h.raw('DELETE', `/_admin/faults/${f.id}`)).status).toBe(204);
  expect((await h.raw('GET', '/v1.0/groups')).status).toBe(200);
});

test('request log: method, path, status — never the Authorization header or secrets', async () => {
  const start = (await since(0)).last;
  await h.raw('GET', "/v1.0/users?$filter=employeeId eq 'E1001'".replace(/ /g, '%20'));
  await h.raw('POST', `/${h.sim.tenantId}/oauth2/v2.0/token`, {
    token: null,
    form: { grant_type: 'client_credentials', client_id: h.sim.clientId, client_secret: h.sim.clientSecret, scope: GRAPH_SCOPE },
  });
  const log = await since(start);
  expect(log.value.map((e) => [e.area, e.status])).toEqual([
    ['graph', 200],
    ['token', 200],
  ]);
  expect(decodeURIComponent(log.value[0]!.path)).toBe("/v1.0/users?$filter=employeeId eq 'E1001'");
  const text = JSON.stringify(log);
  expect(text).not.toContain(h.sim.clientSecret);
  expect(text.toLowerCase()).not.toContain('bearer');
});

test('admin API: create/patch/delete users and groups with Graph-style validation errors', async () => {
  const bad = await h.raw('POST', '/_admin/users', { body: { displayName: 'X', userPrincipalName: 'x@elsewhere.example' } });
  expect([bad.status, bad.json.error.code]).toEqual([400, 'Request_BadRequest']);
  const dup = await h.raw('POST', '/_admin/users', { body: { displayName: 'X', userPrincipalName: 'ADA.lovelace@contoso.example' } });
  expect(dup.json.error.message).toBe('Another object with the same value for property userPrincipalName already exists.');
  const unknown = await h.raw('POST', '/_admin/users', { body: { displayName: 'X', userPrincipalName: 'x@contoso.example', shoeSize: 42 } });
  expect(unknown.status).toBe(400);
  const u = await h.raw('POST', '/_admin/users', {
    body: { displayName: 'Ödön Ünal', userPrincipalName: 'odon.unal@contoso.example', employeeId: 'E5000', accountEnabled: false, managerId: h.sim.directory.userByEmployeeId('E1001')!.id },
  });
  expect(u.status).toBe(201);
  expect(u.json).toMatchObject({ displayName: 'Ödön Ünal', accountEnabled: false, mailNickname: 'odon.unal' });
  const mgr = (await h.graph.api(`/users/${u.json.id}/manager`).select('employeeId').get()) as User;
  expect(mgr.employeeId).toBe('E1001');
  const patched = await h.raw('PATCH', `/_admin/users/${u.json.id}`, { body: { accountEnabled: true, department: 'People' } });
  expect(patched.json['@changed'].sort()).toEqual(['accountEnabled', 'department']);
  const dupMember = await h.raw('POST', `/_admin/groups/${h.sim.directory.groupByName('Cloud Admins')!.id}/members`, { body: { id: h.sim.directory.userByEmployeeId('E1001')!.id } });
  expect(dupMember.json.error.message).toBe("One or more added object references already exist for the following modified properties: 'members'.");
  expect((await h.raw('DELETE', `/_admin/users/${u.json.id}?hard=true`)).status).toBe(204);
  expect((await h.raw('GET', `/v1.0/users/${u.json.id}`)).status).toBe(404);
  expect((await h.raw('POST', '/_admin/reset')).json).toMatchObject({ reset: true, users: 30 });
});
