/** toGraphFailure: Graph and credential errors as typed Temporal failures (no network; see test/integration/graph-source.test.ts for the real thing). */
import { GraphError } from '@microsoft/microsoft-graph-client';
import { ApplicationFailure } from '@temporalio/common';
import { type GraphFailureDetails, graphErrorKind, retryAfterOf, toGraphFailure } from '../../sources/entra/client';

function graphError(status: number, code: string | null, headers: Record<string, string> = {}, requestId: string | null = 'req-1'): GraphError {
  const e = new GraphError(status, `${code} message`);
  e.code = code;
  e.requestId = requestId;
  e.headers = new Headers(headers);
  return e;
}
const typed = (e: unknown) => toGraphFailure(e, 'test read') as ApplicationFailure;
const details = (f: ApplicationFailure) => f.details?.[0] as GraphFailureDetails;

test.each([
  [400, 'Graph.badRequest', true],
  [401, 'Graph.authentication', true],
  [403, 'Graph.authorization', true],
  [404, 'Graph.notFound', true],
  [409, 'Graph.badRequest', true],
  [429, 'Graph.throttled', false],
  [500, 'Graph.unavailable', false],
  [502, 'Graph.unavailable', false],
  [503, 'Graph.unavailable', false],
  [504, 'Graph.unavailable', false],
])('HTTP %i → %s (nonRetryable %s), with the request-id', (status, type, nonRetryable) => {
  const f = typed(graphError(status, 'Code'));
  expect(f).toBeInstanceOf(ApplicationFailure);
  expect([f.type, f.nonRetryable]).toEqual([type, nonRetryable]);
  expect(details(f)).toMatchObject({ statusCode: status, code: 'Code', requestId: 'req-1' });
  expect(f.message).toContain('request-id req-1');
});

test('410 Gone → Graph.resyncRequired, non-retryable', () => {
  const f = typed(graphError(410, 'resyncRequired'));
  expect([f.type, f.nonRetryable]).toEqual(['Graph.resyncRequired', true]);
});

test.each([
  [400, 'syncStateNotFound'],
  [400, 'SyncStateNotFound'],
  [404, 'syncStateNotFound'],
  [400, 'resyncRequired'],
])('a token past its duration, %i %s, → Graph.resyncRequired: the delta starts again instead of failing every run', (status, code) => {
  const f = typed(graphError(status, code));
  expect([f.type, f.nonRetryable]).toEqual(['Graph.resyncRequired', true]);
  expect(details(f)).toMatchObject({ statusCode: status, code });
  expect(f.message).toContain(`the delta token expired (${status} ${code})`);
});

test('another 400 stays a bad request', () => {
  expect(typed(graphError(400, 'Request_UnsupportedQuery')).type).toBe('Graph.badRequest');
});

test('the request-id falls back to the response header', () => {
  expect(details(typed(graphError(503, 'X', { 'request-id': 'from-header' }, null))).requestId).toBe('from-header');
});

test('Retry-After (seconds or HTTP date) becomes nextRetryDelay on retryable failures only', () => {
  expect(typed(graphError(429, 'TooManyRequests', { 'retry-after': '7' })).nextRetryDelay).toBe(7000);
  const at = new Date(Date.now() + 60_000).toUTCString();
  expect(Number(typed(graphError(503, 'X', { 'retry-after': at })).nextRetryDelay)).toBeGreaterThanOrEqual(58_000);
  expect(typed(graphError(429, 'TooManyRequests', { 'retry-after': '0' })).nextRetryDelay).toBeUndefined();
  expect(typed(graphError(400, 'X', { 'retry-after': '7' })).nextRetryDelay).toBeUndefined();
  expect([retryAfterOf(null), retryAfterOf(''), retryAfterOf('soon'), retryAfterOf(' 3 ')]).toEqual([undefined, undefined, undefined, 3]);
});

test('no response: a refused credential is Graph.authentication (non-retryable), a network failure Graph.unavailable', () => {
  const refused = new GraphError(-1, 'invalid_client: Error(s): 7000215 - Description: AADSTS7000215: Invalid client secret provided.');
  refused.code = 'AuthenticationRequiredError';
  expect([typed(refused).type, typed(refused).nonRetryable]).toEqual(['Graph.authentication', true]);
  expect(typed(refused).message).toContain('AADSTS7000215');

  const network = new GraphError(-1);
  network.body = Object.assign(new TypeError('fetch failed'), { cause: { message: 'connect ECONNREFUSED 127.0.0.1:1', code: 'ECONNREFUSED' } });
  expect([typed(network).type, typed(network).nonRetryable]).toEqual(['Graph.unavailable', false]);

  const noCredential = new Error('DefaultAzureCredential failed to retrieve a token from the included credentials.');
  noCredential.name = 'CredentialUnavailableError';
  expect(typed(noCredential).type).toBe('Graph.authentication');
});

test('typed failures pass through; anything else is left alone', () => {
  const already = ApplicationFailure.create({ type: 'Graph.notFound', message: 'x' });
  expect(toGraphFailure(already, 'again')).toBe(already);
  const bug = new RangeError('a bug');
  expect(toGraphFailure(bug, 'x')).toBe(bug);
  expect(graphErrorKind(302)).toBe('unknown');
});
