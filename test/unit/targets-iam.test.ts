import { classifyIamError, IamRetryStrategy, isRetryableIamError } from '../../targets/aws-iam/client';
import { decodeList, encodeList } from '../../targets/aws-iam/tags';

describe('IAM retry rules', () => {
  const info = (name: string, errorType: 'THROTTLING' | 'TRANSIENT' | 'SERVER_ERROR' | 'CLIENT_ERROR', headers: Record<string, string> = {}) => ({ error: Object.assign(new Error(name), { name, $response: { headers } }), errorType });

  test('throttling and transient errors retry; LimitExceeded (SDK-classified as throttling) and client errors do not', () => {
    expect(isRetryableIamError(info('Throttling', 'THROTTLING'))).toBe(true);
    expect(isRetryableIamError(info('LimitExceededException', 'THROTTLING'))).toBe(false);
    expect(isRetryableIamError(info('ServiceFailureException', 'TRANSIENT'))).toBe(true);
    expect(isRetryableIamError(info('NoSuchEntityException', 'CLIENT_ERROR'))).toBe(false);
    expect(isRetryableIamError(info('Error', 'TRANSIENT', { 'content-type': 'text/html' }))).toBe(false);
  });

  test('backoff grows exponentially with jitter, capped, and stops at maxAttempts', async () => {
    const s = new IamRetryStrategy({ maxAttempts: 4, throttlingBaseDelayMs: 100, maxDelayMs: 300 });
    let token = await s.acquireInitialRetryToken();
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      token = await s.refreshRetryTokenForRetry(token, info('Throttling', 'THROTTLING'));
      delays.push(token.getRetryDelay());
    }
    expect(delays[0]).toBeGreaterThanOrEqual(50);
    expect(delays[0]).toBeLessThanOrEqual(100);
    expect(delays[1]).toBeGreaterThanOrEqual(100);
    expect(delays[1]).toBeLessThanOrEqual(200);
    expect(delays[2]).toBeGreaterThanOrEqual(150);
    expect(delays[2]).toBeLessThanOrEqual(300);
    await expect(s.refreshRetryTokenForRetry(token, info('Throttling', 'THROTTLING'))).rejects.toMatchObject({ name: 'Throttling' });
    await expect(s.refreshRetryTokenForRetry(await s.acquireInitialRetryToken(), info('LimitExceededException', 'THROTTLING'))).rejects.toMatchObject({ name: 'LimitExceededException' });
  });

  test('classification for Temporal', () => {
    const err = (name: string, status: number) => Object.assign(new Error('m'), { name, $metadata: { httpStatusCode: status, requestId: 'r1', attempts: 1 } });
    expect(classifyIamError(err('LimitExceededException', 409), 'CreateAccessKey')).toMatchObject({ type: 'IAM.LimitExceeded', nonRetryable: true });
    expect(classifyIamError(err('Throttling', 400), 'GetUser')).toMatchObject({ type: 'IAM.Throttling', nonRetryable: false });
    expect(classifyIamError(err('ConcurrentModificationException', 409), 'TagUser')).toMatchObject({ type: 'IAM.ConcurrentModification', nonRetryable: false });
    expect(classifyIamError(err('EntityAlreadyExistsException', 409), 'CreateUser')).toMatchObject({ type: 'IAM.EntityAlreadyExists', nonRetryable: true });
    expect(classifyIamError(err('ServiceFailureException', 500), 'GetUser')).toMatchObject({ nonRetryable: false });
    expect(classifyIamError(new Error('socket hang up'), 'GetUser')).toMatchObject({ nonRetryable: false });
    expect(classifyIamError(err('NoSuchEntityException', 404), 'GetUser').message).toBe('IAM GetUser failed: NoSuchEntity: m (HTTP 404, request-id r1, 1 attempt(s))');
  });
});

describe('lists in tags (the rehire record)', () => {
  test('round trip, split at 256 characters over numbered keys', () => {
    const groups = Array.from({ length: 10 }, (_, i) => `group-${i}-${'x'.repeat(100)}`);
    const tags = encodeList('idflow:removed-groups', groups);
    expect(Object.keys(tags)).toEqual(['idflow:removed-groups', 'idflow:removed-groups:2', 'idflow:removed-groups:3', 'idflow:removed-groups:4', 'idflow:removed-groups:5']);
    expect(Object.values(tags).every((v) => v.length <= 256)).toBe(true);
    expect(decodeList({ ...tags, other: 'a b' }, 'idflow:removed-groups')).toEqual(groups);
    expect(encodeList('k', [])).toEqual({});
    expect(decodeList({}, 'k')).toEqual([]);
    // Chunk 10 sorts after chunk 2 by number, not by text.
    const many = encodeList('k', Array.from({ length: 12 }, (_, i) => `${i}`.padStart(250, '0')));
    expect(decodeList(many, 'k')).toHaveLength(12);
    expect(decodeList(many, 'k')[11]).toBe('11'.padStart(250, '0'));
  });
});
