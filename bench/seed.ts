/**
 * Completes the targets' state with the fewest calls, when the cold reconcile could not finish within
 * the benchmark's time limit, so the no-op reconcile and the HR events can still be measured at full size.
 *
 * It plans with idflow's own code (domain planTarget on a fresh read of Entra ID and the target) and
 * applies: groups and accounts through the connector (createGroup, createAccount), memberships with
 * one call each (IAM AddUserToGroup) or in batches of 50 per group (SCIM PATCH, the connector's
 * addMembers). Any other action goes through the connector. The no-op reconcile afterwards checks the
 * result: it plans nothing when this seeding equals what idflow would have done.
 *
 * Also a floor for the cold reconcile: what the same plan costs with minimal calls (docs/benchmark.md).
 * Child process of bench/run.ts: `node dist/bench/seed.js`, with the stack's environment.
 */
import { AddUserToGroupCommand } from '@aws-sdk/client-iam';
import pLimit from 'p-limit';
import { applyAction } from '../activities/identity';
import { configPath, createRuntime } from '../activities/runtime';
import { createIamClient } from '../targets/aws-iam/client';
import type { IamTargetConfig } from '../targets/aws-iam/config';
import type { SourceIdentity } from '../domain/types';
import { planTarget } from '../domain/reconcile';

export interface SeedResult {
  ms: number;
  targets: { target: string; ms: number; applied: Record<string, number>; failures: number; failureSample: string[] }[];
  cpuSeconds: number;
}

const CONCURRENCY = 8;

async function main(): Promise<void> {
  const started = performance.now();
  const runtime = createRuntime(configPath(), process.env);
  const identities: SourceIdentity[] = [];
  identities.push(...(await runtime.source.listAll(runtime.select)).identities);

  const targets: SeedResult['targets'] = [];
  // Targets one after the other: each is limited by its own server, and the log stays readable.
  for (const target of runtime.loaded.targets.filter((t) => t.config.enabled)) {
    const t0 = performance.now();
    const connector = runtime.connectors.get(target.name)!;
    const state = await connector.readState();
    const plan = planTarget({ target, identities, state: { accounts: state.accounts, groups: state.groups.map((g) => g.name) }, maxGroupsPerUser: connector.maxGroupsPerUser });
    const applied: Record<string, number> = {};
    const failures: string[] = [];
    const count = (op: string, n = 1) => (applied[op] = (applied[op] ?? 0) + n);
    for (const action of plan.groups) {
      await applyAction(connector, action);
      count(action.op);
    }
    const members = new Map<string, string[]>();
    const limit = pLimit(CONCURRENCY);
    let done = 0;
    await Promise.all(plan.identities.map((p) => limit(async () => {
      try {
        for (const action of p.actions) {
          if (action.op === 'addMember') members.set(action.group, [...(members.get(action.group) ?? []), action.userName]);
          else {
            await applyAction(connector, action);
            count(action.op);
          }
        }
      } catch (err) {
        failures.push(`${p.employeeId}: ${(err as Error).message}`);
      }
      done += 1;
      if (done % 1000 === 0) process.stderr.write(`seed ${target.name}: ${done}/${plan.identities.length} identities, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
    })));
    if (target.config.type === 'aws-iam') {
      const iam = createIamClient(target.config as IamTargetConfig);
      const pairs = [...members].flatMap(([group, users]) => users.map((user) => [group, user] as const));
      await Promise.all(pairs.map(([GroupName, UserName]) => limit(async () => {
        try {
          await iam.send(new AddUserToGroupCommand({ GroupName, UserName }));
          count('addMember');
        } catch (err) {
          failures.push(`${UserName} ${GroupName}: ${(err as Error).message}`);
        }
      })));
    } else {
      for (const [group, users] of members) {
        for (let i = 0; i < users.length; i += 50) {
          const batch = users.slice(i, i + 50);
          try {
            await connector.addMembers(group, batch);
            count('addMember', batch.length);
          } catch (err) {
            failures.push(`${group} (${batch.length} members): ${(err as Error).message}`);
          }
        }
      }
    }
    const ms = Math.round(performance.now() - t0);
    process.stderr.write(`seed ${target.name}: done in ${(ms / 1000).toFixed(1)} s, ${JSON.stringify(applied)}, ${failures.length} failures\n`);
    targets.push({ target: target.name, ms, applied, failures: failures.length, failureSample: failures.slice(0, 10) });
  }
  const cpu = process.cpuUsage();
  const result: SeedResult = { ms: Math.round(performance.now() - started), targets, cpuSeconds: Math.round(((cpu.user + cpu.system) / 1e6) * 10) / 10 };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`seeding failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
