/**
 * `npm run bench`: idflow's benchmark (a benchmark, not a timed test). One run starts its own local
 * stack (Temporal dev server in memory, the Entra ID simulator with N users and G groups, moto,
 * scim2-server, one worker), then measures, in order:
 *   1. a cold full reconcile into IAM and SCIM (wall time, identities per second);
 *   2. a no-op reconcile (time, target writes, target calls and Temporal history events per identity);
 *   3. HR mover events (latency from sent to verified: p50/p95/p99/max), then a few leavers one at a
 *      time (sent -> revoked and read back in every target), fewer than the mass-revocation guard's
 *      threshold, so none is held;
 *   4. the worker's peak RSS;
 *   5. a naive sequential sync (same connectors, no Temporal, no batching) on fresh targets, for the ratio.
 * Target calls are counted by pass-through proxies in front of moto and scim2-server; Graph calls by
 * the simulator's request log; CPU per process from /proc. Prints tables and writes JSON to --out.
 * docs/benchmark.md explains the method and the figures.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { awaitEventOutcome, signalIdentity } from '../client/identity';
import { freePort, httpOk, startProcess, stopProcess, waitUntil } from '../devstack/processes';
import { motoIamServer, projectRoot, type RunningStack, startStack, toolPath } from '../devstack/stack';
import { type StackInfo, stackEnv } from '../devstack/stack-file';
import { dataConverterFromEnv } from '../encryption';
import { type ReconcileResult, reconcileWorkflow } from '../workflows/reconcile';
import { EntraAdmin, type GraphCalls } from './entra';
import { eventLatencyBreakdown } from './history';
import type { NaiveResult } from './naive';
import type { SeedResult } from './seed';
import { memoryOf, cpuDiff, cpuSnapshot, type CpuSnapshot, loadAverage, RssSampler } from './procs';
import { classifyIam, classifyScim, CountingProxy, diffStats, round, type StatsSummary, summarize } from './proxy';
import { fixed, goalTable, type GoalRow, percentile, seconds, table } from './report';

const HELP = `npm run bench [-- options]

  --users N              identities in the simulator (default 10000)
  --groups N             groups in the simulator, at least 10 (default 500)
  --events N             HR mover events (default 200)
  --event-concurrency N  events in flight at once (default 10)
  --poll-ms N            how often the eventOutcome query is polled where the Update cannot answer (default 100)
  --naive-sample N       identities the naive sync runs before extrapolating (default 1000)
  --cold-timeout-min N   stop the cold reconcile after N minutes, report how far it got, and let the
                         benchmark complete the targets (bench/seed.ts) so the later phases still run (default 30)
  --skip-naive           no naive sync (no ratio)
  --out DIR              where the JSON goes (default bench/results)
  --keep-state           keep the stack's state directory (logs) after the run
  --help
`;

interface Options {
  users: number;
  groups: number;
  events: number;
  eventConcurrency: number;
  pollMs: number;
  naiveSample: number;
  coldTimeoutMin: number;
  skipNaive: boolean;
  out: string;
  keepState: boolean;
}

const GOALS = { coldMs: 120_000, noopMs: 20_000, eventP99Ms: 2_000, leaverMs: 1_000 };
/** Below deletionGuard.maxCount (10 in the config), so the guard lets each through: the healthy path. */
const LEAVERS = 8;
const TASK_QUEUE = process.env.IDFLOW_TASK_QUEUE ?? 'idflow';

function parseOptions(): Options | null {
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: '10000' },
      groups: { type: 'string', default: '500' },
      events: { type: 'string', default: '200' },
      'event-concurrency': { type: 'string', default: '10' },
      'poll-ms': { type: 'string', default: '100' },
      'naive-sample': { type: 'string', default: '1000' },
      'cold-timeout-min': { type: 'string', default: '30' },
      'skip-naive': { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench/results' },
      'keep-state': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return null;
  }
  const int = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`);
    return n;
  };
  return {
    users: int('users', values.users, 20),
    groups: int('groups', values.groups, 10),
    events: int('events', values.events, 0),
    eventConcurrency: int('event-concurrency', values['event-concurrency'], 1),
    pollMs: int('poll-ms', values['poll-ms'], 10),
    naiveSample: int('naive-sample', values['naive-sample'], 1),
    coldTimeoutMin: int('cold-timeout-min', values['cold-timeout-min'], 1),
    skipNaive: values['skip-naive'],
    out: resolve(values.out),
    keepState: values['keep-state'],
  };
}

const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/** What every phase records besides its own figures: where the time went. */
interface PhaseMeasure {
  ms: number;
  iam: StatsSummary;
  scim: StatsSummary;
  graph: GraphCalls;
  /** CPU seconds per process during the phase (2 cores: at most 2 s per wall second in total). */
  cpuSeconds: CpuSnapshot;
  workerMaxRssMiB: number;
  /** 1-minute load average at the end of the phase. */
  loadAverage1m: number;
  /** Every 15 s: seconds in, target calls so far, accounts created so far (IAM CreateUser, SCIM POST /Users). */
  progress: { s: number; iamCalls: number; scimCalls: number; iamCreated: number; scimCreated: number }[];
}

async function main(): Promise<number> {
  const opts = parseOptions();
  if (!opts) return 0;
  const root = projectRoot();
  if (!existsSync(join(root, 'dist', 'bench', 'naive.js'))) throw new Error('dist/bench is missing; run npm run build (npm run bench does)');
  const startedAt = new Date();
  const stateDir = mkdtempSync(join(tmpdir(), 'idflow-bench-'));
  const logDir = join(stateDir, 'logs');
  const cleanups: (() => Promise<void>)[] = [];
  // One clean-up, however many callers (a signal and the failing main path): each waits for it to finish.
  let cleaning: Promise<void> | null = null;
  const cleanup = (): Promise<void> => (cleaning ??= (async () => {
    for (const c of cleanups.reverse()) await c().catch((err: Error) => log(`cleanup: ${err.message}`));
  })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping the stack`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  let ok = false;
  try {
    log(`users ${opts.users}, groups ${opts.groups}, events ${opts.events}; state ${stateDir}`);
    const env = environment(opts);

    // ---------------------------------------------------------------- the stack, behind counting proxies
    const iamProxy = new CountingProxy('iam', classifyIam);
    const scimProxy = new CountingProxy('scim', classifyScim);
    await iamProxy.start();
    await scimProxy.start();
    cleanups.push(() => iamProxy.close(), () => scimProxy.close());

    const stackStart = performance.now();
    const workerEnv: Record<string, string> = {
      IDFLOW_IAM_ENDPOINT: iamProxy.url,
      AWS_ENDPOINT_URL_IAM: iamProxy.url,
      IDFLOW_SCIM_URL: `${scimProxy.url}/v2`,
    };
    const stack: RunningStack = await startStack({
      stateDir,
      ports: { temporal: 0, temporalUi: 0, graph: 0, iam: 0, scim: 0 },
      ui: false,
      worker: true,
      users: opts.users,
      groups: opts.groups,
      workerEnv,
      log,
    });
    cleanups.push(() => stack.stop());
    iamProxy.setUpstream(stack.info.iam.endpoint);
    scimProxy.setUpstream(new URL(stack.info.scim.baseUrl).origin);
    const info: StackInfo = stack.info;
    const stackStartMs = performance.now() - stackStart;
    const pids: Record<string, number> = { ...stack.info.pids };
    let workerPid = stack.info.pids.worker ?? -1;
    if (workerPid < 0) throw new Error('the stack did not report the worker pid');
    log(`stack ready in ${seconds(stackStartMs)} (pids ${JSON.stringify(pids)})`);

    const connection = await Connection.connect({ address: info.temporal.address });
    cleanups.push(() => connection.close());
    // Payloads are encrypted like in production: the client needs the stack's key to read results and queries.
    const client = new Client({ connection, namespace: info.temporal.namespace, dataConverter: dataConverterFromEnv(info.encryption.env) });
    const entra = new EntraAdmin(info.graph);
    cleanups.push(async () => entra.close());
    let rss = new RssSampler(workerPid);
    rss.start();
    cleanups.push(async () => rss.stop());
    const count = (s: Record<string, { count: number }>, b: Record<string, { count: number }>, key?: string) =>
      Object.entries(s).filter(([k]) => key === undefined || k === key).reduce((n, [k, v]) => n + v.count - (b[k]?.count ?? 0), 0);

    const measure = async <T>(name: string, fn: () => Promise<T>): Promise<{ value: T; m: PhaseMeasure }> => {
      const iam0 = iamProxy.snapshot();
      const scim0 = scimProxy.snapshot();
      const graph0 = await entra.lastRequest();
      const cpu0 = cpuSnapshot(pids);
      rss.takeMax();
      const t0 = performance.now();
      const progress: PhaseMeasure['progress'] = [];
      const ticker = setInterval(() => {
        const [iam, scim] = [iamProxy.snapshot(), scimProxy.snapshot()];
        const p = { s: Math.round((performance.now() - t0) / 1000), iamCalls: count(iam, iam0), scimCalls: count(scim, scim0), iamCreated: count(iam, iam0, 'CreateUser'), scimCreated: count(scim, scim0, 'POST /Users') };
        progress.push(p);
        log(`${name}: ${p.s} s, IAM calls ${p.iamCalls} (${p.iamCreated} CreateUser), SCIM calls ${p.scimCalls} (${p.scimCreated} POST /Users), worker RSS ${Math.round(memoryOf(workerPid)?.rssMiB ?? 0)} MiB`);
      }, 15_000);
      try {
        const value = await fn();
        const ms = performance.now() - t0;
        const m: PhaseMeasure = {
          ms: Math.round(ms),
          iam: summarize(diffStats(iamProxy.snapshot(), iam0), (k) => iamProxy.isWrite(k)),
          scim: summarize(diffStats(scimProxy.snapshot(), scim0), (k) => scimProxy.isWrite(k)),
          graph: await entra.callsSince(graph0),
          cpuSeconds: cpuDiff(cpuSnapshot(pids), cpu0),
          workerMaxRssMiB: rss.takeMax(),
          loadAverage1m: loadAverage()[0] ?? NaN,
          progress,
        };
        log(`${name}: done in ${seconds(ms)}`);
        return { value, m };
      } finally {
        clearInterval(ticker);
      }
    };

    // ---------------------------------------------------------------- 1. cold reconcile
    const coldTimeoutMs = opts.coldTimeoutMin * 60_000;
    const cold = await measure('cold reconcile', () => runReconcile(client, 'cold', coldTimeoutMs));
    let coldCut: { iamCreated: number; scimCreated: number; firstWorker: { pid: number; peakRssMiB: number } } | null = null;
    let seed: { result: SeedResult; m: PhaseMeasure } | null = null;
    if (cold.value.timedOut) {
      const iam = cold.m.iam.byKind.find((k) => k.kind === 'CreateUser')?.count ?? 0;
      const scim = cold.m.scim.byKind.find((k) => k.kind === 'POST /Users')?.count ?? 0;
      log(`cold reconcile: not done after ${opts.coldTimeoutMin} min (${iam} IAM users, ${scim} SCIM users created); terminated`);
      // A terminated reconcile's activity keeps applying in the worker (it does not watch for
      // cancellation): only stopping that worker stops it. A fresh worker takes over.
      const peak = Math.round(memoryOf(workerPid)?.peakMiB ?? NaN);
      const replacement = await replaceWorker(root, logDir, workerPid, { ...process.env, ...stack.env, ...workerEnv }, cleanups);
      coldCut = { iamCreated: iam, scimCreated: scim, firstWorker: { pid: workerPid, peakRssMiB: peak } };
      rss.stop();
      workerPid = replacement;
      pids.worker = replacement;
      rss = new RssSampler(workerPid);
      rss.start();
      const seedEnv = childEnv(info, iamProxy.url, `${scimProxy.url}/v2`, stack.info.scim.token);
      const seeded = await measure('seeding the rest', () => runChild<SeedResult>(root, 'seed.js', [], seedEnv, cleanups));
      seed = { result: seeded.value, m: seeded.m };
    }
    const directory = cold.value.result?.results[0]?.identitiesRead;
    // ---------------------------------------------------------------- 2. no-op reconcile
    const noop = await measure('no-op reconcile', () => runReconcile(client, 'noop', 30 * 60_000));
    if (!noop.value.result) throw new Error('the no-op reconcile did not finish within 30 minutes');
    const noopResult = noop.value.result;
    const identities = directory ?? noopResult.results[0]?.identitiesRead ?? opts.users;
    const noopWrites = noop.m.iam.writes + noop.m.scim.writes;
    const noopApplied = sumApplied(noopResult);
    // ---------------------------------------------------------------- 3. HR events
    const movers = opts.events > 0 ? await prepareMovers(entra, opts.users, opts.events) : [];
    const events = await measure('HR events', () => runEvents(client, movers, opts));
    const eventHistories = await identityHistoryLengths(client, movers.map((m) => m.employeeId));
    const eventBreakdown = await eventLatencyBreakdown(client, events.value.sent);
    const leavers = opts.events > 0 ? await runLeavers(client, movers.slice(-LEAVERS).map((m) => m.employeeId)) : null;
    // ---------------------------------------------------------------- 4. worker memory
    const workerMemory = memoryOf(workerPid);
    // ---------------------------------------------------------------- 5. naive sync
    let naive: { result: NaiveResult; m: PhaseMeasure; estimatedFullMs: number; extrapolated: boolean } | null = null;
    if (!opts.skipNaive) {
      const sample = Math.min(opts.naiveSample, opts.users);
      const run = await runNaive(root, logDir, info, sample, pids, entra, cleanups);
      const extrapolated = run.result.sampled < run.result.identitiesTotal;
      naive = { ...run, extrapolated, estimatedFullMs: Math.round((run.result.ms / Math.max(1, run.result.sampled)) * run.result.identitiesTotal) };
    }

    // ---------------------------------------------------------------- report
    const ev = events.value;
    const coldDone = !cold.value.timedOut;
    const coldValue = coldDone ? seconds(cold.m.ms) : `> ${seconds(cold.m.ms, 0)} (stopped: ${coldCut!.iamCreated} IAM / ${coldCut!.scimCreated} SCIM accounts of ${identities} created)`;
    const coldRate = coldDone ? identities / (cold.m.ms / 1000) : (coldCut!.iamCreated / (cold.m.ms / 1000));
    const workerPeak = Math.max(Math.round(workerMemory?.peakMiB ?? NaN), coldCut?.firstWorker.peakRssMiB ?? 0);
    const goals: GoalRow[] = [
      { figure: 'cold reconcile: wall time', value: coldValue, goal: `<= ${seconds(GOALS.coldMs, 0)}`, met: coldDone && cold.m.ms <= GOALS.coldMs && cold.value.ok },
      { figure: 'cold reconcile: throughput', value: `${fixed(coldRate, 1)} identities/s${coldDone ? '' : ' (IAM accounts created until stopped)'}`, goal: '', met: null },
      ...(seed ? [{ figure: 'rest applied by bench/seed.ts (minimal calls)', value: seconds(seed.m.ms), goal: '', met: null }] : []),
      { figure: 'no-op reconcile: wall time', value: seconds(noop.m.ms), goal: `<= ${seconds(GOALS.noopMs, 0)}`, met: noop.m.ms <= GOALS.noopMs },
      { figure: 'no-op reconcile: target writes', value: `${noopWrites} (applied ${noopApplied})`, goal: '0', met: noopWrites === 0 && noopApplied === 0 },
      { figure: 'no-op: target API calls per identity', value: fixed((noop.m.iam.calls + noop.m.scim.calls) / identities, 4), goal: '', met: null },
      { figure: 'no-op: Graph calls per identity', value: fixed(noop.m.graph.calls / identities, 4), goal: '', met: null },
      { figure: 'no-op: history events per identity', value: fixed(noop.value.historyLength / identities, 4), goal: '', met: null },
      ...(opts.events > 0
        ? [
            { figure: `HR events (${ev.latencies.length} movers, ${opts.eventConcurrency} in flight): p50`, value: seconds(ev.p50, 2), goal: '', met: null },
            { figure: 'HR events: p95', value: seconds(ev.p95, 2), goal: '', met: null },
            { figure: 'HR events: p99', value: seconds(ev.p99, 2), goal: `<= ${seconds(GOALS.eventP99Ms, 0)}`, met: ev.p99 <= GOALS.eventP99Ms && ev.timeouts === 0 },
            { figure: 'HR events: max', value: seconds(ev.max, 2), goal: '', met: null },
            { figure: 'HR events: outcomes', value: Object.entries(ev.outcomes).map(([k, v]) => `${k} ${v}`).join(', ') + (ev.timeouts ? `, timed out ${ev.timeouts}` : ''), goal: '', met: null },
          ]
        : []),
      ...(leavers
        ? [
            { figure: `leaver, sent -> revoked in every target (${leavers.latencies.length}, one at a time): p50`, value: seconds(leavers.p50, 2), goal: `<= ${seconds(GOALS.leaverMs, 0)}`, met: leavers.p50 <= GOALS.leaverMs && leavers.notRevoked.length === 0 },
            { figure: 'leaver: max', value: seconds(leavers.max, 2), goal: '', met: null },
            ...(leavers.notRevoked.length ? [{ figure: 'leaver: not revoked', value: leavers.notRevoked.join('; '), goal: '0', met: false }] : []),
          ]
        : []),
      { figure: `worker peak RSS (VmHWM)${coldCut ? ', both workers' : ''}`, value: `${workerPeak} MiB`, goal: '', met: null },
      ...(naive
        ? [
            { figure: `naive sync${naive.extrapolated ? ` (${naive.result.sampled} measured, x${fixed(naive.result.identitiesTotal / naive.result.sampled, 1)} linearly)` : ''}`, value: seconds(naive.estimatedFullMs), goal: '', met: null },
            {
              figure: 'idflow cold reconcile vs naive (speed-up)',
              value: `${coldDone ? '' : '< '}${fixed(naive.estimatedFullMs / cold.m.ms, 1)}x`,
              goal: '> 1x',
              met: coldDone ? naive.estimatedFullMs > cold.m.ms : naive.estimatedFullMs <= cold.m.ms ? false : null,
            },
          ]
        : []),
    ];

    const phases: Record<string, PhaseMeasure> = { cold: cold.m, ...(seed ? { seed: seed.m } : {}), noop: noop.m, events: events.m, ...(naive ? { naive: naive.m } : {}) };
    const results = {
      benchmark: 'idflow',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      environment: { ...env, loadAverageAtEnd: loadAverage() },
      options: { ...opts, out: undefined },
      stack: { startMs: Math.round(stackStartMs) },
      goals,
      cold: {
        completed: coldDone,
        ms: cold.m.ms,
        identities,
        identitiesPerSecond: round(coldRate, 2),
        ok: cold.value.ok,
        historyLength: cold.value.historyLength,
        stoppedAt: coldCut,
        targets: cold.value.result?.results.map(targetSummary) ?? null,
      },
      seed: seed ? { ...seed.result, note: 'the rest of the plan applied with minimal calls by bench/seed.ts after the cold reconcile was stopped' } : null,
      noop: {
        ms: noop.m.ms,
        targetWrites: noopWrites,
        applied: noopApplied,
        targetCalls: noop.m.iam.calls + noop.m.scim.calls,
        targetCallsPerIdentity: round((noop.m.iam.calls + noop.m.scim.calls) / identities, 5),
        graphCallsPerIdentity: round(noop.m.graph.calls / identities, 5),
        historyLength: noop.value.historyLength,
        historyEventsPerIdentity: round(noop.value.historyLength / identities, 5),
        workflowsStarted: 1,
        targets: noopResult.results.map(targetSummary),
      },
      events: {
        count: movers.length,
        concurrency: opts.eventConcurrency,
        pollMs: opts.pollMs,
        outcomeQueries: ev.queries,
        kind: 'mover (jobTitle changed in Entra ID first)',
        latencyMs: { p50: ev.p50, p95: ev.p95, p99: ev.p99, max: ev.max, mean: round(ev.latencies.reduce((a, b) => a + b, 0) / Math.max(1, ev.latencies.length)) },
        sendMs: { p50: round(percentile(ev.sendMs, 50)), p99: round(percentile(ev.sendMs, 99)) },
        outcomes: ev.outcomes,
        timeouts: ev.timeouts,
        failedSample: ev.failedSample,
        targetActions: ev.targetActions,
        wallMs: events.m.ms,
        eventsPerSecond: round(movers.length / (events.m.ms / 1000), 1),
        historyEventsPerIdentityWorkflow: eventHistories,
        fromHistories: eventBreakdown,
      },
      leavers: leavers ? { count: leavers.latencies.length + leavers.notRevoked.length, oneAtATime: true, latencyMs: { p50: leavers.p50, max: leavers.max, all: leavers.latencies.map(round) }, notRevoked: leavers.notRevoked } : null,
      worker: {
        pid: workerPid,
        peakRssMiB: workerPeak,
        rssAtEndMiB: Math.round(workerMemory?.rssMiB ?? NaN),
        firstWorker: coldCut?.firstWorker ?? null,
        maxRssByPhaseMiB: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, v.workerMaxRssMiB])),
      },
      naive: naive
        ? { ...naive.result, extrapolated: naive.extrapolated, estimatedFullMs: naive.estimatedFullMs, speedup: round(naive.estimatedFullMs / cold.m.ms, 2), perIdentityMs: round(naive.result.ms / Math.max(1, naive.result.sampled), 1), targets: 'fresh moto and scim2-server processes of its own' }
        : null,
      phases,
    };

    mkdirSync(opts.out, { recursive: true });
    const file = join(opts.out, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);

    process.stdout.write(`\nidflow benchmark: ${opts.users} identities, ${opts.groups} groups, ${env.cpus} CPUs (${env.cpuModel}), Node ${env.node}\n\n`);
    process.stdout.write(`${goalTable(goals)}\n\n`);
    process.stdout.write(`Where the time went (CPU seconds per process during each phase; target and Graph calls with their mean server time):\n\n`);
    process.stdout.write(`${whereTable(phases)}\n\n`);
    if (cold.value.result) {
      const perTarget = cold.value.result.results.map((r) => {
        const calls = r.target === 'aws' ? cold.m.iam : r.target === 'app' ? cold.m.scim : null;
        return `${r.target} activity ${seconds(r.durationMs)}${calls ? ` (${fixed(calls.calls / identities, 1)} calls/identity, ${fixed(calls.writes / identities, 1)} writes/identity, mean ${fixed(calls.meanMs, 1)} ms/call)` : ''}`;
      });
      process.stdout.write(`Cold reconcile, per target (they run in parallel): ${perTarget.join('; ')}\n`);
    } else {
      const rates = cold.m.progress.map((p) => `${p.s}s:${p.iamCreated}`).filter((_, i, a) => i % Math.max(1, Math.floor(a.length / 12)) === 0);
      process.stdout.write(`Cold reconcile stopped after ${seconds(cold.m.ms, 0)}: ${fixed(cold.m.iam.calls / Math.max(1, coldCut!.iamCreated), 1)} IAM calls per IAM account created, mean ${fixed(cold.m.iam.meanMs, 1)} ms/call; IAM accounts created over time: ${rates.join(' ')}\n`);
    }
    if (eventBreakdown) {
      const cp = eventBreakdown.meanCriticalPath;
      process.stdout.write(`HR event, from the workflow histories (no polling): sent -> outcome recorded p50 ${seconds(eventBreakdown.sentToRecorded.p50, 2)}, p99 ${seconds(eventBreakdown.sentToRecorded.p99, 2)}; mean ${cp.totalMs} ms = ${cp.inActivitiesMs} ms running activities on the critical path + ${cp.otherMs} ms Temporal round trips and queueing\n`);
      process.stdout.write(`  activities (mean wait / run): ${Object.entries(eventBreakdown.activities).map(([k, a]) => `${k} ${a.scheduleToStartMs}/${a.startToCloseMs} ms`).join(', ')}\n`);
    }
    process.stdout.write(`Busiest target calls in the cold reconcile: ${topCalls(cold.m)}\n`);
    if (naive) process.stdout.write(`Busiest target calls in the naive sync: ${topCalls(naive.m)}\n`);
    process.stdout.write(`\nJSON: ${file}\n`);
    ok = true;
    return 0;
  } finally {
    await cleanup();
    if (ok && !opts.keepState) rmSync(stateDir, { recursive: true, force: true });
    else log(`state and logs kept in ${stateDir}`);
  }
}

// ------------------------------------------------------------------ phases

async function runReconcile(client: Client, label: string, timeoutMs: number): Promise<{ result: ReconcileResult | null; historyLength: number; ok: boolean; timedOut: boolean }> {
  const workflowId = `bench-reconcile-${label}-${Date.now()}`;
  // A short approval timeout: a benchmark never waits for a human; a held run shows in the result.
  const handle = await client.workflow.start(reconcileWorkflow, { workflowId, taskQueue: TASK_QUEUE, args: [{ dryRun: false, approvalTimeout: '1 minute' }] });
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([handle.result(), new Promise<null>((r) => (timer = setTimeout(() => r(null), timeoutMs)))]);
  clearTimeout(timer);
  if (!result) {
    await handle.terminate(`benchmark: not done within ${timeoutMs / 60_000} min`);
    const { historyLength } = await handle.describe();
    return { result: null, historyLength, ok: false, timedOut: true };
  }
  const { historyLength } = await handle.describe();
  const ok = result.results.every((r) => r.failures.count === 0 && !r.guard.triggered && r.verify.remaining === 0);
  if (!ok) log(`reconcile ${label}: ${result.summary}; failures ${result.results.map((r) => `${r.target} ${r.failures.count} ${JSON.stringify(r.failures.sample.slice(0, 3))}`).join('; ')}; verify remaining ${result.results.map((r) => r.verify.remaining).join('/')}`);
  return { result, historyLength, ok, timedOut: false };
}

function sumApplied(result: ReconcileResult): number {
  return result.results.reduce((n, r) => n + Object.values(r.applied).reduce((a, b) => a + b, 0), 0);
}

function targetSummary(r: ReconcileResult['results'][number]) {
  const nonzero = (rec: Record<string, number>) => Object.fromEntries(Object.entries(rec).filter(([, v]) => v > 0));
  return {
    target: r.target,
    identitiesRead: r.identitiesRead,
    accountsOwned: r.accountsOwned,
    planned: nonzero(r.planned),
    applied: nonzero(r.applied),
    failures: r.failures.count,
    failureSample: r.failures.sample.slice(0, 5),
    findings: r.findings.count,
    verifyRemaining: r.verify.remaining,
    reads: r.reads,
    activityMs: r.durationMs,
  };
}

interface Mover {
  employeeId: string;
  id: string;
}

/**
 * Movers spread over the directory: enabled users (a disabled one is out of scope for SCIM), each given
 * a new job title in Entra ID first, as HR's change would be, so each event has a real update to make.
 */
async function prepareMovers(entra: EntraAdmin, users: number, count: number): Promise<Mover[]> {
  const stride = users / count;
  const candidates: string[] = [];
  for (let k = 0; k < count; k++) for (let j = 0; j < 4; j++) candidates.push(`E${1001 + Math.min(users - 1, Math.floor(k * stride) + j)}`);
  const found = new Map((await entra.usersByEmployeeIds([...new Set(candidates)], ['id', 'employeeId', 'accountEnabled', 'jobTitle'])).map((u) => [String(u.employeeId), u]));
  const movers: Mover[] = [];
  const taken = new Set<string>();
  for (let k = 0; k < count; k++) {
    for (let j = 0; j < 4; j++) {
      const u = found.get(candidates[k * 4 + j]!);
      if (!u || u.accountEnabled !== true || taken.has(String(u.employeeId))) continue;
      taken.add(String(u.employeeId));
      movers.push({ employeeId: String(u.employeeId), id: String(u.id) });
      break;
    }
  }
  const titles = ['Staff Engineer', 'Engineering Manager', 'Senior Accountant', 'Key Account Manager', 'People Partner', 'Support Team Lead', 'Product Marketing Manager'];
  await Promise.all(movers.map((m, i) => entra.patchUser(m.id, { jobTitle: `${titles[i % titles.length]} (moved)` })));
  log(`prepared ${movers.length} movers (new job titles in Entra ID)`);
  return movers;
}

interface EventsResult {
  latencies: number[];
  sendMs: number[];
  p50: number;
  p95: number;
  p99: number;
  max: number;
  outcomes: Record<string, number>;
  timeouts: number;
  failedSample: string[];
  targetActions: Record<string, number>;
  sent: { workflowId: string; sentAtEpochMs: number }[];
  /** eventOutcome queries sent while waiting (only where the Update could not answer). */
  queries: number;
}

/**
 * `concurrency` lanes; each sends one mover with signal-with-start and waits for its outcome, both as
 * `idflow event --wait` does (client/identity.ts): sent -> provisioned and verified.
 */
async function runEvents(client: Client, movers: Mover[], opts: Options): Promise<EventsResult> {
  const queue = [...movers];
  const latencies: number[] = [];
  const sendMs: number[] = [];
  const outcomes: Record<string, number> = {};
  const targetActions: Record<string, number> = {};
  const failedSample: string[] = [];
  const sent: { workflowId: string; sentAtEpochMs: number }[] = [];
  let timeouts = 0;
  let queries = 0;
  const timeoutMs = 120_000;
  const lane = async () => {
    for (let m = queue.shift(); m; m = queue.shift()) {
      const eventId = `bench-${m.employeeId}-${randomBytes(4).toString('hex')}`;
      const t0 = performance.now();
      const sentAtEpochMs = Date.now();
      const workflowId = await signalIdentity(client, TASK_QUEUE, { type: 'mover', employeeId: m.employeeId, eventId });
      sendMs.push(performance.now() - t0);
      sent.push({ workflowId, sentAtEpochMs });
      // As `idflow event --wait` does: an Update that returns when the outcome is recorded.
      const outcome = await awaitEventOutcome(client.workflow.getHandle(workflowId), eventId, sentAtEpochMs + timeoutMs, { pollMs: opts.pollMs, onQuery: () => (queries += 1) });
      if (!outcome) {
        timeouts += 1;
        continue;
      }
      latencies.push(performance.now() - t0);
      outcomes[outcome.outcome] = (outcomes[outcome.outcome] ?? 0) + 1;
      for (const t of outcome.targets) targetActions[t.target] = (targetActions[t.target] ?? 0) + t.actions;
      if (outcome.outcome === 'failed' && failedSample.length < 10) failedSample.push(`${m.employeeId}: ${outcome.error ?? outcome.targets.map((t) => `${t.target} ${t.error ?? t.findings.join(', ')}`).join('; ')}`);
    }
  };
  await Promise.all(Array.from({ length: opts.eventConcurrency }, lane));
  const r = (p: number) => Math.round(percentile(latencies, p));
  return { latencies, sendMs, p50: r(50), p95: r(95), p99: r(99), max: r(100), outcomes, timeouts, failedSample, targetActions, sent, queries };
}

/** Leavers one at a time, as `idflow event leaver --wait` sends them: sent -> revoked and read back in every target. */
async function runLeavers(client: Client, employeeIds: string[]): Promise<{ latencies: number[]; p50: number; max: number; notRevoked: string[] }> {
  const latencies: number[] = [];
  const notRevoked: string[] = [];
  for (const employeeId of employeeIds) {
    const eventId = `bench-leaver-${employeeId}-${randomBytes(4).toString('hex')}`;
    const t0 = performance.now();
    const workflowId = await signalIdentity(client, TASK_QUEUE, { type: 'leaver', employeeId, eventId });
    const outcome = await awaitEventOutcome(client.workflow.getHandle(workflowId), eventId, Date.now() + 60_000);
    const ms = performance.now() - t0;
    if (!outcome || outcome.outcome !== 'provisioned' || outcome.targets.some((t) => !t.verified)) notRevoked.push(`${employeeId}: ${outcome ? `${outcome.outcome} ${outcome.error ?? ''}` : 'no outcome in 60 s'}`);
    else latencies.push(ms);
  }
  const r = (p: number) => Math.round(percentile(latencies, p));
  return { latencies, p50: r(50), max: r(100), notRevoked };
}

/** Mean and max history length of the movers' identity workflows (one event each so far). */
async function identityHistoryLengths(client: Client, employeeIds: string[]): Promise<{ mean: number; max: number } | null> {
  if (employeeIds.length === 0) return null;
  const lengths: number[] = [];
  const queue = [...employeeIds];
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let id = queue.shift(); id; id = queue.shift()) {
      const d = await client.workflow.getHandle(`identity-${id}`).describe().catch(() => null);
      if (d) lengths.push(d.historyLength);
    }
  }));
  return { mean: round(lengths.reduce((a, b) => a + b, 0) / Math.max(1, lengths.length)), max: Math.max(...lengths) };
}

/**
 * The naive sync in a child process, against a fresh moto and scim2-server of its own (so it starts
 * from empty targets, as the cold reconcile did), through counting proxies like the worker.
 */
async function runNaive(root: string, logDir: string, info: StackInfo, sample: number, pids: Record<string, number>, entra: EntraAdmin, cleanups: (() => Promise<void>)[]): Promise<{ result: NaiveResult; m: PhaseMeasure }> {
  const venv = toolPath('venv', 'bin');
  const [motoPort, scimPort] = [await freePort(), await freePort()];
  // Hex: a token starting with "-" would be taken for an option by scim2-server's argument parser.
  const token = randomBytes(24).toString('hex');
  const moto = startProcess('naive-moto', join(venv, 'python'), [motoIamServer(), '-H', '127.0.0.1', '-p', String(motoPort)], { logDir });
  cleanups.push(() => stopProcess(moto));
  const scim = startProcess('naive-scim2-server', join(venv, 'scim2-server'), ['--hostname', '127.0.0.1', '--port', String(scimPort), '--bearer-token', token], { logDir });
  cleanups.push(() => stopProcess(scim));
  await Promise.all([
    waitUntil('moto (naive)', moto, () => httpOk(`http://127.0.0.1:${motoPort}/moto-api/`), 30_000),
    waitUntil('scim2-server (naive)', scim, () => httpOk(`http://127.0.0.1:${scimPort}/v2/ServiceProviderConfig`), 30_000),
  ]);
  const iamProxy = new CountingProxy('naive-iam', classifyIam);
  const scimProxy = new CountingProxy('naive-scim', classifyScim);
  await iamProxy.start();
  await scimProxy.start();
  cleanups.push(() => iamProxy.close(), () => scimProxy.close());
  iamProxy.setUpstream(`http://127.0.0.1:${motoPort}`);
  scimProxy.setUpstream(`http://127.0.0.1:${scimPort}`);

  const naivePids: Record<string, number> = { ...pids, 'naive-moto': moto.child.pid ?? -1, 'naive-scim2-server': scim.child.pid ?? -1 };
  const graph0 = await entra.lastRequest();
  const cpu0 = cpuSnapshot(naivePids);
  const t0 = performance.now();
  log(`naive sync: ${sample} identities, one at a time`);
  const result = await runChild<NaiveResult>(root, 'naive.js', ['--limit', String(sample)], childEnv(info, iamProxy.url, `${scimProxy.url}/v2`, token), cleanups);
  const ms = performance.now() - t0;
  const cpu = cpuDiff(cpuSnapshot(naivePids), cpu0);
  // The child had exited before the snapshot: its CPU (self-reported) was counted under `other`.
  cpu['naive-sync'] = result.cpuSeconds;
  if (cpu.other !== undefined) cpu.other = round(Math.max(0, cpu.other - result.cpuSeconds), 1);
  const m: PhaseMeasure = {
    ms: Math.round(ms),
    iam: summarize(iamProxy.snapshot(), (k) => iamProxy.isWrite(k)),
    scim: summarize(scimProxy.snapshot(), (k) => scimProxy.isWrite(k)),
    graph: await entra.callsSince(graph0),
    cpuSeconds: cpu,
    workerMaxRssMiB: 0,
    loadAverage1m: loadAverage()[0] ?? NaN,
    progress: [],
  };
  log(`naive sync: ${result.sampled} identities in ${seconds(result.ms)} (${result.failures.count} failures)`);
  return { result, m };
}

/** The environment of a worker for this stack, with the targets at the given endpoints. */
function childEnv(info: StackInfo, iamEndpoint: string, scimBaseUrl: string, scimToken: string): NodeJS.ProcessEnv {
  return { ...process.env, ...stackEnv({ ...info, iam: { ...info.iam, endpoint: iamEndpoint }, scim: { baseUrl: scimBaseUrl, token: scimToken } }), AWS_ENDPOINT_URL_IAM: iamEndpoint };
}

/** Runs dist/bench/<script> (it needs the simulator's CA from process start), relays its stderr, parses its last stdout line. */
async function runChild<T>(root: string, script: string, args: string[], env: NodeJS.ProcessEnv, cleanups: (() => Promise<void>)[]): Promise<T> {
  const child = spawn(process.execPath, [join(root, 'dist', 'bench', script), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  createInterface({ input: child.stderr }).on('line', (line) => log(line));
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  if (code !== 0) throw new Error(`${script} exited with ${code}; see the log above`);
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}

/** Stops the stack's worker (SIGKILL: a running activity must not go on writing) and starts another like it. */
async function replaceWorker(root: string, logDir: string, pid: number, env: NodeJS.ProcessEnv, cleanups: (() => Promise<void>)[]): Promise<number> {
  process.kill(pid, 'SIGKILL');
  // Gone (or a zombie without memory) within 10 s.
  for (let i = 0; i < 100 && !Number.isNaN(memoryOf(pid)?.rssMiB ?? NaN); i++) await sleep(100);
  const worker = startProcess('worker-2', process.execPath, [join(root, 'bin', 'idflow'), 'worker'], { logDir, env });
  cleanups.push(() => stopProcess(worker));
  await new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`the replacement worker was not ready within 90 s; see ${worker.logFile}`)), 90_000);
    createInterface({ input: worker.child.stderr! }).on('line', (line) => {
      if (!line.startsWith('idflow worker: task queue')) return;
      clearTimeout(timer);
      resolveReady();
    });
    void worker.exited.then(() => reject(new Error(`the replacement worker exited; see ${worker.logFile}`)));
  });
  log(`replacement worker ${worker.child.pid} ready`);
  return worker.child.pid ?? -1;
}

// ------------------------------------------------------------------ output helpers

function environment(opts: Options) {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: projectRoot(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return null;
    }
  };
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    loadAverageAtStart: loadAverage(),
    users: opts.users,
    groups: opts.groups,
    events: opts.events,
    gitCommit: git(['rev-parse', '--short', 'HEAD']),
    gitDirty: (git(['status', '--porcelain']) ?? '') !== '',
  };
}

function whereTable(phases: Record<string, PhaseMeasure>): string {
  const procs = [...new Set(Object.values(phases).flatMap((p) => Object.keys(p.cpuSeconds)))];
  const rows = Object.entries(phases).map(([name, p]) => [
    name,
    seconds(p.ms),
    ...procs.map((k) => (p.cpuSeconds[k] === undefined ? '' : fixed(p.cpuSeconds[k]!, 1))),
    `${p.iam.calls} (${fixed(p.iam.meanMs, 1)} ms)`,
    `${p.scim.calls} (${fixed(p.scim.meanMs, 1)} ms)`,
    `${p.graph.calls} (${fixed(p.graph.meanMs, 1)} ms)`,
    fixed(p.loadAverage1m, 1),
  ]);
  return table(['phase', 'wall', ...procs.map((k) => `cpu ${k}`), 'IAM calls', 'SCIM calls', 'Graph calls', 'load 1m'], rows);
}

function topCalls(m: PhaseMeasure): string {
  const all = [...m.iam.byKind.map((k) => ({ ...k, kind: `IAM ${k.kind}` })), ...m.scim.byKind.map((k) => ({ ...k, kind: `SCIM ${k.kind}` }))].sort((a, b) => b.count - a.count);
  return all.slice(0, 8).map((k) => `${k.kind} ${k.count} x ${fixed(k.meanMs, 1)} ms`).join('; ');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`benchmark failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
