import { ApplicationFailure } from '@temporalio/common';
import { prop } from './schema';

const ERROR_DETAIL_MAX = 300;

/** Retry-After in seconds or as an HTTP date, in ms; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  const s = header.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const at = Date.parse(s);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** Whether an error is scimFailure's answer for this status (and, if given, this scimType). */
export function isScimError(err: unknown, status: number, scimType?: string): err is ApplicationFailure {
  if (!(err instanceof ApplicationFailure) || err.type !== `SCIM.${status}`) return false;
  return scimType === undefined || (err.details?.[0] as { scimType?: string } | undefined)?.scimType === scimType;
}

/**
 * A SCIM error as a Temporal failure of type `SCIM.<status>` with the server's detail and scimType:
 * 4xx and 501 non-retryable (a retry gets the same answer), 408, 429 and other 5xx retryable.
 */
export function scimFailure(status: number, body: unknown, what: string, retryable?: boolean, delayMs?: number): ApplicationFailure {
  const detailRaw = prop(body, 'detail') ?? (typeof body === 'string' ? body : undefined);
  const detail = detailRaw === undefined ? '' : String(detailRaw).slice(0, ERROR_DETAIL_MAX);
  const scimType = prop(body, 'scimType');
  const canRetry = retryable ?? ((status >= 500 && status !== 501) || status === 429 || status === 408);
  const message = `SCIM ${what} failed: HTTP ${status}${typeof scimType === 'string' ? ` (${scimType})` : ''}${detail ? `: ${detail}` : ''}`;
  return ApplicationFailure.create({
    message,
    type: `SCIM.${status}`,
    nonRetryable: !canRetry,
    details: [{ status, scimType: typeof scimType === 'string' ? scimType : null, detail }],
    ...(delayMs !== undefined && canRetry ? { nextRetryDelay: delayMs } : {}),
  });
}

