/**
 * Fault injection: throttling (429 with or without Retry-After), 5xx, latency and dropped connections for the
 * next N Graph requests, a ratio of them, or a time window; optionally restricted to a path prefix / method.
 */
import { randomUUID } from 'node:crypto';
import { badRequest } from './errors';
import { isPlainObject, mulberry32 } from './util';

export interface FaultSpec {
  /** HTTP status to answer with (429, 500, 502, 503, 504, ...). Omit for latency-only faults. */
  status?: number;
  /** Retry-After seconds. Default 1 for 429/503; `null` sends no Retry-After header. */
  retryAfter?: number | null;
  /** Error code/message for the Graph error body (defaults per status). */
  code?: string;
  message?: string;
  /** Apply to the next N matching requests (counting only requests where the fault fired). */
  count?: number;
  /** Fire with this probability (0..1) per matching request. */
  ratio?: number;
  /** Active for this long after creation. */
  durationMs?: number;
  /** Delay before answering (alone, or before the fault status). */
  latencyMs?: number;
  /** Destroy the connection instead of answering (a network error for the client). */
  drop?: boolean;
  /** Only requests whose path starts with this (case-insensitive), e.g. "/v1.0/users". */
  pathPrefix?: string;
  /** Only this HTTP method. */
  method?: string;
  /** Also apply to the token endpoint (default: Graph only). */
  includeToken?: boolean;
}

export interface Fault extends FaultSpec {
  id: string;
  createdAt: number;
  /** How many times it fired. */
  fired: number;
}

export interface FaultDecision {
  latencyMs: number;
  fault?: Fault;
}

const KEYS = new Set(['status', 'retryAfter', 'code', 'message', 'count', 'ratio', 'durationMs', 'latencyMs', 'drop', 'pathPrefix', 'method', 'includeToken']);

export function parseFaultSpec(body: unknown): FaultSpec {
  if (!isPlainObject(body)) throw badRequest('Fault body must be a JSON object.');
  for (const k of Object.keys(body)) if (!KEYS.has(k)) throw badRequest(`Unknown fault property '${k}'. Known: ${[...KEYS].join(', ')}.`);
  const num = (k: string, min: number, max: number): number | undefined => {
    const v = body[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw badRequest(`Fault property '${k}' must be a number between ${min} and ${max}.`);
    return v;
  };
  const spec: FaultSpec = {
    status: num('status', 400, 599),
    count: num('count', 1, 1e9),
    ratio: num('ratio', 0, 1),
    durationMs: num('durationMs', 1, 1e9),
    latencyMs: num('latencyMs', 0, 600_000),
  };
  if (body.retryAfter !== undefined) spec.retryAfter = body.retryAfter === null ? null : num('retryAfter', 0, 86400);
  for (const k of ['code', 'message', 'pathPrefix', 'method'] as const) {
    const v = body[k];
    if (v !== undefined) {
      if (typeof v !== 'string') throw badRequest(`Fault property '${k}' must be a string.`);
      spec[k] = v;
    }
  }
  for (const k of ['drop', 'includeToken'] as const) {
    const v = body[k];
    if (v !== undefined) {
      if (typeof v !== 'boolean') throw badRequest(`Fault property '${k}' must be a boolean.`);
      spec[k] = v;
    }
  }
  if (spec.status === undefined && spec.latencyMs === undefined && !spec.drop) throw badRequest('A fault needs at least one of status, latencyMs or drop.');
  for (const k of Object.keys(spec) as (keyof FaultSpec)[]) if (spec[k] === undefined) delete spec[k];
  return spec;
}

export class FaultInjector {
  private faults: Fault[] = [];
  private rand: () => number;

  constructor(seed: number) {
    this.rand = mulberry32(seed ^ 0x5eed);
  }

  add(spec: FaultSpec): Fault {
    const f: Fault = { ...spec, id: randomUUID(), createdAt: Date.now(), fired: 0 };
    this.faults.push(f);
    return f;
  }
  list(): Fault[] {
    this.prune();
    return [...this.faults];
  }
  remove(id: string): boolean {
    const n = this.faults.length;
    this.faults = this.faults.filter((f) => f.id !== id);
    return this.faults.length !== n;
  }
  clear(): void {
    this.faults = [];
  }
  private prune(): void {
    const now = Date.now();
    this.faults = this.faults.filter((f) => (f.count === undefined || f.fired < f.count) && (f.durationMs === undefined || now - f.createdAt < f.durationMs));
  }

  /** Decide what happens to a request. Latency of all matching latency-only faults adds up; the first status/drop fault wins. */
  decide(method: string, path: string, isToken: boolean): FaultDecision {
    this.prune();
    const p = path.toLowerCase();
    let latencyMs = 0;
    let fault: Fault | undefined;
    for (const f of this.faults) {
      if (isToken && !f.includeToken) continue;
      if (f.pathPrefix && !p.startsWith(f.pathPrefix.toLowerCase())) continue;
      if (f.method && f.method.toUpperCase() !== method) continue;
      if (f.status === undefined && !f.drop) {
        if (f.ratio !== undefined && this.rand() >= f.ratio) continue;
        latencyMs += f.latencyMs ?? 0;
        f.fired++;
        continue;
      }
      if (fault) continue;
      if (f.ratio !== undefined && this.rand() >= f.ratio) continue;
      fault = f;
      f.fired++;
      latencyMs += f.latencyMs ?? 0;
    }
    return fault ? { latencyMs, fault } : { latencyMs };
  }
}

export function defaultFaultError(status: number): { code: string; message: string } {
  switch (status) {
    case 429:
      return { code: 'TooManyRequests', message: 'Too many requests. Please retry after the time specified in the Retry-After header.' };
    case 500:
      return { code: 'UnknownError', message: 'An internal server error occurred.' };
    case 502:
      return { code: 'BadGateway', message: 'Bad gateway.' };
    case 503:
      return { code: 'ServiceNotAvailable', message: 'The service is temporarily unavailable. Please retry later.' };
    case 504:
      return { code: 'GatewayTimeout', message: 'The gateway did not receive a response in time.' };
    default:
      return { code: 'SimulatedFault', message: `Simulated fault with status ${status}.` };
  }
}
