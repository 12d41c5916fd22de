import { ApplicationFailure } from '@temporalio/common';
import { afterWrites } from '../../activities/identity';

describe('a provisioning that fails after some writes', () => {
  const applied = [{ op: 'create' as const, userName: 'ada' }, { op: 'addMember' as const, userName: 'ada', group: 'eng' }];

  test('fails the same way (type, retryability, retry delay) and says which writes went through', () => {
    const original = ApplicationFailure.create({ type: 'SCIM.400', message: 'SCIM PATCH /Groups/1: 400 invalidValue', nonRetryable: true, details: [{ status: 400 }] });
    const f = afterWrites(original, applied) as ApplicationFailure;
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect([f.type, f.nonRetryable]).toEqual(['SCIM.400', true]);
    expect(f.message).toBe('SCIM PATCH /Groups/1: 400 invalidValue (after 2 writes: create ada, addMember ada eng)');
    expect(f.details).toEqual([{ status: 400 }, { writesBeforeFailure: applied }]);
    const throttled = afterWrites(ApplicationFailure.create({ type: 'SCIM.429', message: 'slow down', nextRetryDelay: '2 minutes' }), applied) as ApplicationFailure;
    expect([throttled.nonRetryable, throttled.nextRetryDelay]).toEqual([false, '2 minutes']);
  });

  test('a plain error stays retryable under its own name; with no writes before it, the failure is passed on as it is', () => {
    const f = afterWrites(new TypeError('socket hang up'), applied.slice(0, 1)) as ApplicationFailure;
    expect([f.type, f.nonRetryable, f.message]).toEqual(['TypeError', false, 'socket hang up (after 1 write: create ada)']);
    const untouched = new Error('nothing written');
    expect(afterWrites(untouched, [])).toBe(untouched);
  });
});
