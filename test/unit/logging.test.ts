import { Writable } from 'node:stream';
import { ApplicationFailure } from '@temporalio/common';
import { createLogger, scrub, ScrubbingLogger } from '../../workers/logging';

/** A logger writing into memory, and what it wrote, one JSON object per line. */
function capture() {
  const chunks: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (chunks.push(chunk.toString('utf8')), done()) });
  const logger = new ScrubbingLogger(createLogger(sink, 'trace'));
  return { logger, text: () => chunks.join(''), lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const ADA = { upn: 'ada.lovelace@contoso.example', name: 'Ada Lovelace', token: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl', secret: 'sim-secret-9f2c' };

describe('worker logs carry no personal data and no secrets', () => {
  test('scrub: emails and UPNs, bearer tokens and JWTs become what they are', () => {
    expect(scrub(`SCIM user ${ADA.upn} refused; Authorization: Bearer abc.def-123; assertion ${ADA.token}`)).toBe('SCIM user [email] refused; Authorization: Bearer [redacted]; assertion [jwt]');
    expect(scrub("o'neil@contoso.example and SSWS 00abcDEF")).toBe('[email] and SSWS [redacted]');
  });

  test("the Temporal SDK's log calls, a failing activity's included, reach the log as JSON without the person's data", () => {
    const { logger, text, lines } = capture();
    const failure = ApplicationFailure.nonRetryable(`SCIM user ${ADA.upn} already exists and belongs to identity S9; it was left untouched`, 'Target.conflict');
    logger.warn('Activity failed', { activityType: 'provisionAccount', error: failure, input: { displayName: ADA.name, mail: ADA.upn, employeeId: 'E1001' } });
    logger.error('token refresh failed', { headers: { authorization: `Bearer ${ADA.token}` }, clientSecret: ADA.secret, detail: `for ${ADA.upn}` });
    logger.info('Worker state changed', { state: 'RUNNING' });
    const out = text();
    for (const value of [ADA.upn, ADA.name, ADA.token, ADA.secret]) expect(out).not.toContain(value);
    const [warn, error, info] = lines();
    expect(warn).toMatchObject({ level: 'warn', msg: 'Activity failed', activityType: 'provisionAccount', input: { displayName: '[redacted]', mail: '[redacted]', employeeId: 'E1001' } });
    expect(warn!.error).toMatchObject({ type: 'ApplicationFailure', message: 'SCIM user [email] already exists and belongs to identity S9; it was left untouched' });
    expect(error).toMatchObject({ level: 'error', headers: { authorization: '[redacted]' }, clientSecret: '[redacted]', detail: 'for [email]' });
    expect(info).toMatchObject({ level: 'info', msg: 'Worker state changed', state: 'RUNNING', service: 'idflow-worker', time: expect.any(String) });
  });

  test('the level is the configured one', () => {
    const chunks: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (chunks.push(chunk.toString('utf8')), done()) });
    const logger = new ScrubbingLogger(createLogger(sink, 'warn'));
    logger.info('quiet');
    logger.debug('quieter');
    logger.warn('heard');
    expect(chunks.join('')).toContain('heard');
    expect(chunks.join('')).not.toContain('quiet');
  });
});
