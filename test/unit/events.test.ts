import fc from 'fast-check';
import { identityWorkflowId, InvalidEventError, parseHrEvent } from '../../domain/events';

describe('HR events', () => {
  test('a valid event, trimmed', () => {
    expect(parseHrEvent({ type: 'joiner', employeeId: ' E1001 ', effectiveAt: '2026-12-01T09:00:00+01:00' })).toEqual({ type: 'joiner', employeeId: 'E1001', effectiveAt: '2026-12-01T09:00:00+01:00' });
  });

  test.each([
    [{ employeeId: 'E1' }, 'type must be one of joiner, mover, leaver, rehire'],
    [{ type: 'joiner' }, 'employeeId is required'],
    [{ type: 'joiner', employeeId: '' }, 'employeeId: employeeId must not be empty'],
    [{ type: 'joiner', employeeId: 42 }, 'employeeId: employeeId must be a string'],
    [{ type: 'joiner', employeeId: 'E1', extra: true }, 'unknown field "extra"'],
    [{ type: 'fired', employeeId: 'E1' }, 'type: type must be one of'],
    [{ type: 'joiner', employeeId: 'E1', effectiveAt: 'tomorrow' }, 'effectiveAt must be an ISO-8601 date-time'],
    [{ type: 'joiner', employeeId: 'E1', note: 'line\u0000break' }, 'note must not contain control characters'],
    [{ type: 'joiner', employeeId: 'x'.repeat(65) }, 'at most 64 characters'],
  ])('%j is refused: %s', (input, message) => {
    expect(() => parseHrEvent(input)).toThrow(InvalidEventError);
    expect(() => parseHrEvent(input)).toThrow(message);
  });

  test('hostile input is refused with InvalidEventError, never anything else', () => {
    fc.assert(
      fc.property(fc.anything(), (input) => {
        try {
          const event = parseHrEvent(input);
          expect(identityWorkflowId(event.employeeId)).toMatch(/^identity-[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidEventError);
        }
      }),
    );
  });
});
