/**
 * The naive baseline: the same Graph source, mapping, plan engine and target connectors as idflow,
 * with no Temporal and no batching. One identity after another: read it from Graph by employee id,
 * map it, then per target find the account, plan and apply each action in order.
 *
 * Run as a child process by bench/run.ts (it needs the simulator's CA in NODE_EXTRA_CA_CERTS from
 * process start, like a worker): `node dist/bench/naive.js --limit 1000`, with the stack's environment.
 * Progress goes to stderr; the result is one JSON line on stdout.
 */
import { parseArgs } from 'node:util';
import { identityActivities } from '../activities/identity';
import { configPath, createRuntime } from '../activities/runtime';

export interface NaiveResult {
  /** Identities in the directory (from the listing). */
  identitiesTotal: number;
  /** Identities synced (the first `limit` by employee id). */
  sampled: number;
  /** Listing the employee ids (paged): done once, included in `ms`. */
  enumerateMs: number;
  /** Everything: listing + the per-identity loop. */
  ms: number;
  /** Graph look-ups (user by employee id + transitive groups), summed. */
  fetchMs: number;
  /** Find, plan and apply, per target, summed. */
  targetMs: Record<string, number>;
  applied: Record<string, number>;
  failures: { count: number; sample: string[] };
  /** CPU seconds this process used (user + system). */
  cpuSeconds: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { limit: { type: 'string' } }, strict: true });
  const limit = Number(values.limit ?? '1000');
  const runtime = createRuntime(configPath(), process.env);
  const activities = identityActivities(runtime);

  const started = performance.now();
  const ids: string[] = [];
  for (const identity of (await runtime.source.listAll(['employeeId'])).identities) if (identity.employeeId) ids.push(identity.employeeId);
  ids.sort();
  const enumerateMs = performance.now() - started;
  const sample = ids.slice(0, limit);

  let fetchMs = 0;
  const targetMs: Record<string, number> = {};
  const applied: Record<string, number> = {};
  const failures: string[] = [];
  let done = 0;
  for (const employeeId of sample) {
    try {
      const t0 = performance.now();
      const identity = await activities.fetchIdentity(employeeId);
      fetchMs += performance.now() - t0;
      const { decisions } = await activities.transformIdentity({ employeeId, mode: 'apply', identity });
      for (const decision of decisions) {
        const t1 = performance.now();
        try {
          const input = { target: decision.target, employeeId, decision };
          let result = await activities.provisionAccount(input);
          if (result.groupsToCreate?.length) {
            // What the identity workflow's managed-group children do, without Temporal.
            for (const { group } of result.groupsToCreate) await activities.ensureGroup({ target: decision.target, group });
            applied.createGroup = (applied.createGroup ?? 0) + result.groupsToCreate.length;
            result = await activities.provisionAccount(input);
          }
          for (const a of result.applied) applied[a.op] = (applied[a.op] ?? 0) + 1;
        } catch (err) {
          failures.push(`${employeeId} ${decision.target}: ${(err as Error).message}`);
        } finally {
          targetMs[decision.target] = (targetMs[decision.target] ?? 0) + (performance.now() - t1);
        }
      }
    } catch (err) {
      failures.push(`${employeeId}: ${(err as Error).message}`);
    }
    done += 1;
    if (done % 100 === 0) process.stderr.write(`naive sync: ${done}/${sample.length} identities, ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  }

  const result: NaiveResult = {
    identitiesTotal: ids.length,
    sampled: sample.length,
    enumerateMs: Math.round(enumerateMs),
    ms: Math.round(performance.now() - started),
    fetchMs: Math.round(fetchMs),
    targetMs: Object.fromEntries(Object.entries(targetMs).map(([k, v]) => [k, Math.round(v)])),
    applied,
    failures: { count: failures.length, sample: failures.slice(0, 20) },
    cpuSeconds: Math.round(((process.cpuUsage().user + process.cpuUsage().system) / 1e6) * 10) / 10,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`naive sync failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
