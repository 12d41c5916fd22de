import { createHash } from 'node:crypto';
import { employeeIdKey } from '../domain/employee-id';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowNotFoundError } from '@temporalio/client';
import { identityWorkflowId } from '../domain/events';
import pLimit from 'p-limit';
import type { Action, ActionOp } from '../domain/plan';
import { countActions } from '../domain/plan';
import { deletionGuard, type GuardDecision, type IdentityPlan, isDestructive, planTarget, type TargetPlan } from '../domain/reconcile';
import type { ActualGroup } from '../domain/types';
import { MANAGED_GROUP_TIMEOUT, MANAGED_GROUP_WORKFLOW, type ManagedGroupWorkflow } from '../contracts/managed-group';
import { type ApplyFailure, applyIdentityPlans } from './apply-plan';
import { listInActivity } from './source-listing';
import { managedGroupWorkflowId } from './managed-group-id';
import type { Runtime } from './runtime';
import type { KnownState } from '../targets/connector';

/**
 * The full sync for one target, as one activity: read the source and the target, plan, apply in
 * bounded batches, verify. The heavy comparison stays here so workflow history holds only counts
 * and bounded samples, whatever the directory's size.
 */

export interface ReconcileTargetInput {
  target: string;
  dryRun: boolean;
  /** Disables and deletes a human approved for this run; the guard holds them otherwise. */
  approvedDestructive?: number;
  /** The digest of exactly the held actions that were approved: a plan whose held set differs is held again. */
  approvedDigest?: string;
  /** Identities to leave alone: their own workflow is processing newer events. */
  skipEmployeeIds?: string[];
}

export interface ReconcileTargetResult {
  target: string;
  configVersion: string;
  dryRun: boolean;
  identitiesRead: number;
  accountsOwned: number;
  /** Planned actions per kind (before the guard). */
  planned: Record<ActionOp, number>;
  applied: Record<ActionOp, number>;
  guard: GuardDecision;
  /**
   * Differences on accounts that already existed: changes made directly in the target (drift), or
   * source changes no event announced. Repaired unless this is a dry run.
   */
  drift: { count: number; sample: string[] };
  findings: { count: number; sample: string[] };
  /** `retryable` of them failed on something a later attempt can fix (throttling, 5xx, a lost answer). */
  failures: { count: number; retryable: number; sample: ApplyFailure[] };
  skipped: { count: number; sample: string[] };
  /**
   * Who was written and how (each op once, in the order first made), for `idflow audit`: every
   * person up to WRITTEN_MAX, which a drift repair stays far below; a cold start's first run names how many it left out.
   */
  written?: { people: { employeeId: string; ops: ActionOp[] }[]; omitted: number };
  /** A bounded part of the plan, for `idflow reconcile --dry-run` and the UI. */
  planSample: string[];
  verify: { checked: boolean; remaining: number };
  /** How many times the target was reconciled in this run: more than 1 when transient failures were retried. */
  rounds?: number;
  reads: { sourcePages: number; targetCalls: number };
  durationMs: number;
}

const SAMPLE = 50;
/** About 60 bytes each: 2,000 people keep a target's record near 120 KiB of the 2 MiB a payload may hold. */
const WRITTEN_MAX = 2_000;
const CONCURRENCY = 8;

export function reconcileActivities(runtime: Runtime) {
  const compiled = (name: string) => {
    const t = runtime.loaded.targets.find((x) => x.name === name && x.config.enabled);
    const c = runtime.connectors.get(name);
    if (!t || !c) throw ApplicationFailure.nonRetryable(`target "${name}" is not configured or not enabled on this worker`, 'Config.unknownTarget');
    return { target: t, connector: c };
  };

  /** Reads both sides and plans: the code path shared by `idflow plan`, dry runs and real runs. */
  async function planLive(name: string, options: { resume?: boolean } = {}): Promise<{ plan: TargetPlan; read: KnownState; identities: number; owned: number; sourcePages: number; targetCalls: number }> {
    const { target, connector } = compiled(name);
    // Heartbeats each page, so a retry after a worker crash resumes the listing instead of starting over.
    const listing = await listInActivity(runtime.source, runtime.select, { resume: options.resume ?? true });
    const { identities, pages: sourcePages } = listing;
    const state = await connector.readState();
    // An empty directory is an outage or a broken filter, never a reason to revoke everyone: refused, not held.
    if (identities.length === 0 && state.accounts.some((a) => a.owned)) {
      throw ApplicationFailure.nonRetryable(`${runtime.source.label} returned no people at all, and ${name} holds ${state.accounts.filter((a) => a.owned).length} accounts idflow owns: refusing to plan (nothing was changed); check the source's filter and permissions`, 'Source.empty');
    }
    heartbeat({ phase: 'planning', identities: identities.length, accounts: state.accounts.length });
    const plan = planTarget({ target, identities, state: { accounts: state.accounts, groups: state.groups.map((g) => g.name) }, maxGroupsPerUser: connector.maxGroupsPerUser });
    const read: KnownState = { accounts: new Map(state.accounts.map((a) => [a.userName, a])), groups: new Map(state.groups.map((g) => [g.name, g])) };
    return { plan, read, identities: identities.length, owned: state.accounts.length, sourcePages, targetCalls: state.calls };
  }

  return {
    planLive,

    async enabledTargets(): Promise<string[]> {
      return runtime.loaded.targets.filter((t) => t.config.enabled && runtime.connectors.has(t.name)).map((t) => t.name);
    },

    /**
     * Employees whose identity workflow is running: processing or waiting on events (a future start
     * date, a leaver's retention). Their own workflow is the one writer for them.
     */
    identitiesInFlight: runningIdentities,

    async reconcileTarget(input: ReconcileTargetInput): Promise<ReconcileTargetResult> {
      const started = Date.now();
      const { connector } = compiled(input.target);
      const { plan, read, identities, owned, sourcePages, targetCalls } = await planLive(input.target);
      const guardConfig = compiled(input.target).target.config.deletionGuard;
      const held = plan.identities.flatMap((p) => p.actions.filter(isDestructive));
      const digest = heldActionsDigest(held);
      // Terraform's saved plan: an approval applies the set that was approved, or nothing.
      const stale = input.approvedDigest !== undefined && held.length > 0 && input.approvedDigest !== digest;
      const decided = deletionGuard(plan, guardConfig, owned, stale ? 0 : (input.approvedDestructive ?? 0));
      const guard: GuardDecision = stale
        ? { held: held.length, triggered: true, reason: `the held disables/deletes changed since they were approved (approved ${input.approvedDigest!.slice(0, 12)}, now ${digest.slice(0, 12)}): a new approval is needed`, digest }
        : decided.triggered ? { ...decided, digest } : decided;
      // Without regard to case: a workflow started as identity-e9020 still keeps a reconcile off E9020.
      const skip = new Set((input.skipEmployeeIds ?? []).map(employeeIdKey));
      const applied = countActions([]);
      const failures: ApplyFailure[] = [];
      const skipped: string[] = [];
      const written = new Map<string, ActionOp[]>();
      const work: IdentityPlan[] = [];
      for (const p of plan.identities) {
        if (p.actions.length === 0) continue;
        if (skip.has(employeeIdKey(p.employeeId))) skipped.push(p.employeeId);
        else work.push(p);
      }

      if (!input.dryRun) {
        const groups = plan.groups.flatMap((a) => (a.op === 'createGroup' ? [a.group] : []));
        const created = await createGroupsInTheirPlace(input.target, groups, () => {
          applied.createGroup += 1;
          heartbeat({ phase: 'creating groups', done: applied.createGroup, of: groups.length });
        });
        const result = await applyIdentityPlans(connector, work, {
          concurrency: CONCURRENCY,
          skip: (a) => guard.triggered && isDestructive(a),
          progress: (p) => heartbeat(p),
          // The new groups are known too: their memberships need not look them up again.
          read: { accounts: read.accounts, groups: new Map([...read.groups, ...created.map((g): [string, ActualGroup] => [g.name, g])]) },
          // Delivered through heartbeats, which every applied identity and batch sends.
          signal: Context.current().cancellationSignal,
          handedOff: { one: identityWorkflowRunning, all: async () => new Set((await runningIdentities()).map(employeeIdKey)) },
        });
        for (const [op, n] of Object.entries(result.applied)) applied[op as ActionOp] += n;
        failures.push(...result.failures);
        skipped.push(...result.handedOff);
        for (const [employeeId, ops] of result.written) written.set(employeeId, ops);
        for (const id of result.handedOff) skip.add(employeeIdKey(id));
      }

      let verify = { checked: false, remaining: 0 };
      if (!input.dryRun && (work.length > 0 || plan.groups.length > 0)) {
        const again = await planLive(input.target, { resume: false });
        const remaining = again.plan.identities.filter((p) => !skip.has(employeeIdKey(p.employeeId))).reduce((n, p) => n + p.actions.filter((a) => !(guard.triggered && isDestructive(a))).length, 0);
        verify = { checked: true, remaining };
      }

      const actions = [...plan.groups, ...plan.identities.flatMap((p) => p.actions)];
      const drift = plan.identities.filter((p) => !p.actions.some((a) => a.op === 'create')).flatMap((p) => p.actions.filter((a) => a.op !== 'createGroup'));
      const findings = plan.identities.flatMap((p) => p.findings.map((f) => `${f.employeeId} ${f.kind}: ${f.detail}`));
      return {
        target: input.target,
        configVersion: runtime.configVersion,
        dryRun: input.dryRun,
        identitiesRead: identities,
        accountsOwned: owned,
        planned: plan.counts,
        applied,
        guard,
        drift: { count: drift.length, sample: drift.slice(0, SAMPLE).map(describe) },
        findings: { count: findings.length, sample: findings.slice(0, SAMPLE) },
        failures: { count: failures.length, retryable: failures.filter((f) => f.retryable).length, sample: failures.slice(0, SAMPLE) },
        skipped: { count: skipped.length, sample: skipped.slice(0, SAMPLE) },
        written: { people: [...written].slice(0, WRITTEN_MAX).map(([employeeId, ops]) => ({ employeeId, ops: [...new Set(ops)] })), omitted: Math.max(0, written.size - WRITTEN_MAX) },
        planSample: actions.slice(0, SAMPLE * 4).map(describe),
        verify,
        reads: { sourcePages, targetCalls },
        durationMs: Date.now() - started,
      };
    },
  };
}

/** sha256 of exactly which accounts would be disabled or deleted, in any order: what an approval binds to. */
export function heldActionsDigest(actions: readonly Action[]): string {
  const keys = actions.map((a) => `${a.op} ${'externalId' in a && a.externalId ? a.externalId : ''} ${a.userName}`).sort();
  return createHash('sha256').update(keys.join('\n')).digest('hex');
}

/** Employees whose identity workflow is running, from the visibility store (may lag by a moment). */
async function runningIdentities(): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of Context.current().client.workflow.list({ query: `WorkflowType = 'identityWorkflow' AND ExecutionStatus = 'Running'` })) {
    if (wf.workflowId.startsWith('identity-')) ids.push(wf.workflowId.slice('identity-'.length));
  }
  return ids.sort();
}

/** Read from the workflow itself, so it is never behind: asked right before writing for the person. */
async function identityWorkflowRunning(employeeId: string): Promise<boolean> {
  try {
    const described = await Context.current().client.workflow.getHandle(identityWorkflowId(employeeId)).describe();
    return described.status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/**
 * Through each group's own workflow (workflows/managed-group.ts), joining a run already under way,
 * so a joiner's workflow creating the same group at the same moment never makes a second one.
 * A group that cannot be created (not idflow's, say) is left out: its members' writes then fail
 * one by one, each recorded with its reason, and the rest of the run goes on.
 */
async function createGroupsInTheirPlace(target: string, groups: readonly string[], created: () => void): Promise<ActualGroup[]> {
  const { client, info, cancellationSignal } = Context.current();
  const limit = pLimit(CONCURRENCY);
  // Waiting on another workflow sends no heartbeats of its own; without these the activity would time out.
  const alive = setInterval(() => heartbeat({ phase: 'creating groups' }), 10_000);
  try {
    const results = await Promise.all(groups.map((group) => limit(async () => {
      if (cancellationSignal.aborted) return null;
      try {
        const g = await client.workflow.execute<ManagedGroupWorkflow>(MANAGED_GROUP_WORKFLOW, {
          workflowId: managedGroupWorkflowId(target, group),
          taskQueue: info.taskQueue,
          args: [{ target, group }],
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowExecutionTimeout: MANAGED_GROUP_TIMEOUT,
        });
        created();
        return g;
      } catch (err) {
        Context.current().log.warn(`group ${group} in ${target} was not created: ${(err as Error).message}`);
        return null;
      }
    })));
    cancellationSignal.throwIfAborted();
    return results.filter((g): g is ActualGroup => g !== null);
  } finally {
    clearInterval(alive);
  }
}

export function describe(action: Action): string {
  const what = 'group' in action ? ` ${action.group}` : action.op === 'update' ? ` ${action.changes.map((c) => c.attribute).join(',')}` : '';
  return `${action.op} ${action.userName}${what} (${action.reason})`;
}

function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // Outside an activity (idflow plan) there is nobody to tell.
  }
}
