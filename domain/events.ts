import { z } from 'zod';

/** HR lifecycle events. Validated before anything is started, so a bad event never leaves a half-run. */

export const EVENT_TYPES = ['joiner', 'mover', 'leaver', 'rehire'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const EmployeeIdSchema = z
  .string({ error: 'employeeId must be a string' })
  .trim()
  .min(1, 'employeeId must not be empty')
  .max(64, 'employeeId must be at most 64 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'employeeId may hold only letters, digits, ".", "_" and "-"');

export const HrEventSchema = z.strictObject({
  type: z.enum(EVENT_TYPES, { error: `type must be one of ${EVENT_TYPES.join(', ')}` }),
  employeeId: EmployeeIdSchema,
  /** When the change takes effect; absent means now. */
  effectiveAt: z.iso.datetime({ offset: true, error: 'effectiveAt must be an ISO-8601 date-time with a time zone, e.g. 2026-12-01T09:00:00Z' }).optional(),
  /** Caller's idempotency key: an event id seen before is not processed again. */
  eventId: z.string().trim().min(1).max(128).regex(/^[\x21-\x7e]+$/, 'eventId must be printable ASCII without spaces').optional(),
  /** Free text for the audit trail, e.g. the HR ticket. */
  note: z.string().max(500).regex(/^[^\p{Cc}]*$/u, 'note must not contain control characters').optional(),
  /** Who sent the event (the sender's authenticated principal): four eyes keep them from approving its hold. */
  requestedBy: z.string().min(1).max(200).regex(/^[^\p{Cc}]*$/u, 'requestedBy must not contain control characters').optional(),
});

export type HrEvent = z.infer<typeof HrEventSchema>;

export class InvalidEventError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid HR event: ${problems.join('; ')}`);
    this.name = 'InvalidEventError';
  }
}

/** Parses an untrusted event, naming every problem with its field. */
export function parseHrEvent(input: unknown): HrEvent {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new InvalidEventError(['an event must be a JSON object']);
  const result = HrEventSchema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      // Field names come from outside: quoted (no raw control characters), cut short, and only a few.
      const shown = issue.keys.slice(0, 5).map((k) => JSON.stringify(k.length > 40 ? `${k.slice(0, 40)}…` : k));
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${shown.join(', ')}${issue.keys.length > 5 ? ` and ${issue.keys.length - 5} more` : ''}`;
    }
    const field = issue.path.join('.') || 'event';
    if (issue.code === 'invalid_type' && issue.input === undefined) return `${field} is required`;
    return `${field}: ${issue.message}`;
  });
  throw new InvalidEventError(problems);
}

/**
 * What Entra ID itself said about a person, from the delta sync: changed (attributes or groups), or
 * removed (soft-deleted: restorable; hard-deleted: gone for good). Produced by idflow, never by users.
 */
export type SourceEvent =
  | { type: 'source-changed'; employeeId: string; eventId: string; sourceId: string }
  | { type: 'source-removed'; employeeId: string; eventId: string; sourceId: string; /** Permanently deleted rather than soft-deleted. */ hard: boolean };

/** Everything an identity workflow processes, in arrival order. */
export type IdentityEvent = HrEvent | SourceEvent;

/** One Temporal workflow per person serialises their events. */
export function identityWorkflowId(employeeId: string): string {
  return `identity-${employeeId}`;
}
