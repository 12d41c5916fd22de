import pino, { type DestinationStream, type Logger as Pino } from 'pino';
import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';

/**
 * The worker's logs: JSON lines through pino, with personal data and secrets taken out. The Temporal
 * SDK's own logs (activity and workflow logs, failures with their messages) come through here too, so
 * a failure that quotes a person's email or a bearer token does not carry it into a log pipeline.
 */

/** Keys whose values never reach a log, wherever they sit in the metadata (compared without regard to case). */
export const REDACTED_KEYS = [
  'displayName', 'givenName', 'surname', 'mail', 'email', 'emails', 'userPrincipalName', 'login', 'otherMails',
  'mobilePhone', 'businessPhones', 'token', 'accessToken', 'access_token', 'secret', 'clientSecret', 'client_secret',
  'password', 'authorization', 'apiKey',
];
const REDACTED = new Set(REDACTED_KEYS.map((k) => k.toLowerCase()));

const EMAIL = /[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;
const BEARER = /\b(Bearer|SSWS)\s+[A-Za-z0-9._~+/=-]+/gi;
/** A JWT (an access token or a client assertion): three base64url segments, the first a JSON header. */
const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;

/** A text with emails (and so UPNs), bearer tokens and JWTs replaced by what they are. */
export function scrub(text: string): string {
  return text.replace(BEARER, '$1 [redacted]').replace(JWT, '[jwt]').replace(EMAIL, '[email]');
}

/** Metadata with scrubbed strings, errors reduced to their type and scrubbed message and stack, and depth bounded. */
export function scrubMeta(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrub(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 6) return '[deep]';
  if (value instanceof Error) {
    const cause = (value as { cause?: unknown }).cause;
    return { type: value.name, message: scrub(value.message), ...(value.stack ? { stack: scrub(value.stack) } : {}), ...(cause ? { cause: scrubMeta(cause, depth + 1) } : {}) };
  }
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => scrubMeta(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = REDACTED.has(k.toLowerCase()) ? '[redacted]' : scrubMeta(v, depth + 1);
  return out;
}

/** The process's logger; `IDFLOW_LOG_LEVEL` (trace, debug, info, warn, error) sets its level, default info. */
export function createLogger(destination?: DestinationStream, level = process.env.IDFLOW_LOG_LEVEL ?? 'info'): Pino {
  return pino({ level, base: { service: 'idflow-worker' }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, destination ?? pino.destination(2));
}

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

/** The Temporal SDK's Logger (`Runtime.install({ logger })`) on top of pino, scrubbing as it goes. */
export class ScrubbingLogger implements Logger {
  constructor(private readonly pino: Pino) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const fields = meta ? (scrubMeta(meta) as Record<string, unknown>) : {};
    this.pino[LEVELS[level] ?? 'info'](fields, scrub(message));
  }

  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }

  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }

  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }

  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }

  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}
