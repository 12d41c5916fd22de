import { IAMClient } from '@aws-sdk/client-iam';
import { ApplicationFailure } from '@temporalio/common';
import type { IamTargetConfig } from './config';

/** The IAM client idflow uses: the SDK's, with retry rules fitted to IAM, and IAM's errors as typed failures. */

export interface IamRetryOptions {
  /** Attempts per call, the first included (default 5). */
  maxAttempts?: number;
  /** Base of the exponential backoff for transient errors (default 100 ms). */
  baseDelayMs?: number;
  /** Base of the exponential backoff for throttling (default 500 ms, as the SDK's standard mode). */
  throttlingBaseDelayMs?: number;
  /** Cap on one backoff (default 20 s). */
  maxDelayMs?: number;
}

export interface IamClientOptions {
  retry?: IamRetryOptions;
  /** Only for tests: static credentials instead of the SDK's default chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** IAM quota errors share the SDK's throttling classification but never heal by waiting. */
const NEVER_RETRY = new Set(['LimitExceeded', 'LimitExceededException']);

interface RetryToken {
  getRetryCount(): number;
  getRetryDelay(): number;
}
interface RetryErrorInfo {
  error?: unknown;
  errorType: 'THROTTLING' | 'TRANSIENT' | 'SERVER_ERROR' | 'CLIENT_ERROR';
}

/**
 * The SDK's standard retry, minus its mistakes for IAM: LimitExceeded (a quota, e.g. a third access
 * key) is classified by the SDK as throttling and would be retried; here it fails at once. Throttling
 * and transient errors back off exponentially with jitter (half fixed, half random), capped.
 */
export class IamRetryStrategy {
  readonly mode = 'standard';
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly throttlingBaseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(options: IamRetryOptions = {}) {
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.throttlingBaseDelayMs = options.throttlingBaseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 20_000;
  }

  async acquireInitialRetryToken(): Promise<RetryToken> {
    return token(0, 0);
  }

  async refreshRetryTokenForRetry(previous: RetryToken, info: RetryErrorInfo): Promise<RetryToken> {
    const retries = previous.getRetryCount();
    if (retries + 1 >= this.maxAttempts || !isRetryableIamError(info)) throw info.error ?? new Error('not retryable');
    const base = info.errorType === 'THROTTLING' ? this.throttlingBaseDelayMs : this.baseDelayMs;
    const full = Math.min(this.maxDelayMs, base * 2 ** retries);
    return token(retries + 1, full / 2 + Math.random() * (full / 2));
  }

  recordSuccess(): void {}
}

function token(retries: number, delay: number): RetryToken {
  return { getRetryCount: () => retries, getRetryDelay: () => delay };
}

/** Throttling (not quotas), 5xx AWS errors and network trouble; never 4xx, never a non-AWS error page. */
export function isRetryableIamError(info: RetryErrorInfo): boolean {
  const err = info.error as { name?: string; $response?: { headers?: Record<string, string> } } | undefined;
  if (NEVER_RETRY.has(err?.name ?? '')) return false;
  if (info.errorType === 'THROTTLING') return true;
  if (info.errorType === 'TRANSIENT') return !isForeignErrorPage(err);
  return false;
}

/** An HTML page instead of an AWS error document: a stand-in that does not implement the call. */
export function isForeignErrorPage(err: unknown): boolean {
  const e = err as { name?: string; $response?: { headers?: Record<string, string> } } | undefined;
  const type = e?.$response?.headers?.['content-type'] ?? '';
  return e?.name === 'Error' && type.includes('html');
}

/** An IAM client with idflow's retry rules. Credentials come from the SDK's default chain. */
export function createIamClient(config: Pick<IamTargetConfig, 'region' | 'endpoint'>, options: IamClientOptions = {}): IAMClient {
  const retryStrategy = new IamRetryStrategy(options.retry);
  return new IAMClient({
    region: config.region,
    endpoint: config.endpoint,
    maxAttempts: options.retry?.maxAttempts ?? 5,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    retryStrategy: retryStrategy as any,
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
}

/**
 * LimitExceeded, validation and ownership errors will not heal on retry; throttling, 5xx, network
 * trouble and ConcurrentModification will. The type is `IAM.<code>`.
 */
export function classifyIamError(err: unknown, what: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number; requestId?: string; attempts?: number } };
  const status = e.$metadata?.httpStatusCode ?? 0;
  const name = (e.name ?? 'Error').replace(/Exception$/, '');
  const attempts = e.$metadata?.attempts ? `, ${e.$metadata.attempts} attempt(s)` : '';
  const message = `IAM ${what} failed: ${name}: ${e.message ?? ''} (HTTP ${status || 'none'}, request-id ${e.$metadata?.requestId ?? 'none'}${attempts})`;
  const retryable = !NEVER_RETRY.has(name) && (name === 'Throttling' || name === 'ServiceFailure' || name === 'ConcurrentModification' || status >= 500 || status === 0);
  return ApplicationFailure.create({ message, type: `IAM.${name}`, nonRetryable: !retryable, details: [{ code: name, httpStatusCode: status || null }] });
}

