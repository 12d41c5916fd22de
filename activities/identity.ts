import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { signalIdentity } from '../client/identity';
import type { IdentityEvent } from '../domain/events';
import { desiredAccount } from '../domain/mapping';
import { type AccountPlan, type Action, planAccount, revokesAccess, verification } from '../domain/plan';
import { isMarkedFor, matchAccount } from '../domain/match';
import type { ActualAccount, ActualGroup, DesiredAccount, SourceIdentity } from '../domain/types';
import { readPerson, type RecordedPerson } from '../domain/person';
import type { ApprovalPolicy } from '../domain/config';
import type { IdentityPolicy } from '../contracts/identity';
import type { GroupToCreate } from '../contracts/managed-group';
import { managedGroupWorkflowId } from './managed-group-id';
import { connectorFor, type Runtime } from './runtime';
import type { TargetConnector } from '../targets/connector';

/** What one target should hold for one person, decided by scoping and mapping. */
export interface TargetDecision {
  target: string;
  /** The desired account's name; null when no account is desired. */
  userName: string | null;
  /** The person's source id (Entra object id): their account is the one marked with it, whatever its name. */
  sourceId?: string;
  desired: DesiredAccount | null;
  /** Why no account is desired (leaver, out of scope, ...). */
  absentReason?: string;
  /** Overrides the target's onLeaveScope: a leaver is disabled, a purge deletes. */
  absentPolicy?: 'disable' | 'delete';
  problems?: string[];
  /** A future joiner prepared ahead of time: creates an account if the person has none, and never touches one they have. */
  onlyIfAbsent?: boolean;
}

/**
 * How an event turns the source into desired state: `apply` (joiner, mover, rehire), `prepare`
 * (a future joiner: disabled, no groups), `revoke` (leaver: disable now), `purge` (retention over: delete).
 */
export type TransformMode = 'apply' | 'prepare' | 'revoke' | 'purge';

export interface ProvisionInput {
  target: string;
  employeeId: string;
  decision: TargetDecision;
  dryRun?: boolean;
  /** Created moments ago by their managed-group workflows: exist even if a listing does not show them yet (IAM lags). */
  groupsJustCreated?: string[];
  /** Apply only what grants or keeps access; what would take it away is returned as `withheld`, for the mass-revocation guard. */
  withholdRevocations?: boolean;
}

export interface AppliedAction {
  op: Action['op'];
  userName: string;
  group?: string;
  detail?: unknown;
}

export interface ProvisionResult {
  target: string;
  plan: AccountPlan;
  applied: AppliedAction[];
  /**
   * Groups the plan needs that do not exist yet. Nothing was applied: the workflow has them created
   * in their one place (workflows/managed-group.ts) and provisions again.
   */
  groupsToCreate?: GroupToCreate[];
  /** Planned disables, deletes and membership removals not applied (`withholdRevocations`). */
  withheld?: Action[];
}

export interface VerifyResult {
  target: string;
  verified: boolean;
  /** The actions a fresh plan would still make: the precise differences between desired and actual. */
  differences: Action[];
  /** What keeps the account from being this person's at all (`unowned`, `conflict`): no write can mend it. */
  findings?: string[];
}

export function identityActivities(runtime: Runtime) {
  const connector = (target: string): TargetConnector => connectorFor(runtime, target);

  async function planFor(input: ProvisionInput): Promise<AccountPlan> {
    const { decision } = input;
    const target = runtime.loaded.targets.find((t) => t.name === input.target)!;
    const c = connector(input.target);
    if (decision.problems?.length) {
      return { actions: [], findings: decision.problems.map((detail) => ({ kind: 'invalid' as const, target: input.target, employeeId: input.employeeId, userName: decision.userName ?? input.employeeId, detail })) };
    }
    const externalId = decision.sourceId ?? null;
    // The desired name first: unless the person was renamed, it is their account, in one look-up.
    const byName = decision.desired ? await c.findAccount(decision.desired.userName) : null;
    const byMarker = isMarkedFor(byName, externalId) ? byName : externalId ? await c.findAccountByExternalId(externalId) : null;
    const { actual, nameHolder } = matchAccount(externalId, { byMarker, byName }, target.config.matching);
    // Someone already working here (an internal move, a contractor made permanent) keeps their access until the start date.
    if (decision.onlyIfAbsent && actual && actual.owned && actual.externalId === externalId) return { actions: [], findings: [] };
    const wanted = decision.desired?.groups ?? [];
    // Groups the account is already in, or that were just created, exist; only the others need a look (most events: none).
    const known = new Set([...wanted.filter((g) => actual?.groups.includes(g)), ...(input.groupsJustCreated ?? [])]);
    const existingGroups = new Set([...known, ...(await c.existingGroups(wanted.filter((g) => !known.has(g))))]);
    return planAccount({
      target: input.target,
      employeeId: input.employeeId,
      externalId,
      desired: decision.desired,
      absentReason: decision.absentReason,
      onAbsent: decision.absentPolicy ?? target.config.onLeaveScope,
      actual,
      nameHolder,
      managedGroups: target.managedGroups,
      existingGroups,
      createMissingGroups: target.config.groups.createMissing,
      maxGroupsPerUser: c.maxGroupsPerUser,
      adoptUnmatched: target.config.unmatched === 'adopt',
    });
  }

  return {
    /** fetch: the person as Entra ID sees them, limited to the attributes the mappings use. */
    async fetchIdentity(employeeId: string): Promise<SourceIdentity | null> {
      return runtime.source.personByEmployeeId(employeeId, runtime.select);
    },

    /** The person by their Entra object id: whether they still exist when a look-up by employee id missed them. */
    async fetchIdentityById(sourceId: string): Promise<SourceIdentity | null> {
      return runtime.source.person(sourceId, runtime.select);
    },

    /** An event for another spelling of the employee id goes to that person's workflow; returns its id. */
    async handOverEvent(event: IdentityEvent): Promise<string> {
      const { client, info } = Context.current();
      return signalIdentity(client, info.taskQueue, event);
    },

    /** Who may approve what the guards hold: the worker's config, never the requester's. */
    async approvalPolicy(): Promise<ApprovalPolicy> {
      return runtime.loaded.config.approvals ?? { fourEyes: true };
    },

    /** The lifecycle durations and switches of the worker's config. */
    async lifecyclePolicy(): Promise<IdentityPolicy> {
      return { ...runtime.loaded.config.lifecycle, sourceLabel: runtime.source.label };
    },

    /** transform: scoping and mapping for every enabled target. */
    async transformIdentity(input: { employeeId: string; mode: TransformMode; identity: RecordedPerson | null; lastSourceId?: string }): Promise<{ configVersion: string; decisions: TargetDecision[] }> {
      const identity = input.identity ? readPerson(input.identity) : null;
      const decisions = runtime.loaded.targets
        .filter((t) => t.config.enabled)
        .map((t): TargetDecision => {
          if (!identity) {
            const absentPolicy = input.mode === 'purge' ? ('delete' as const) : input.mode === 'revoke' ? ('disable' as const) : undefined;
            if (input.lastSourceId && absentPolicy) return { target: t.name, userName: null, sourceId: input.lastSourceId, desired: null, absentReason: `no longer in ${runtime.source.label}`, absentPolicy };
            return { target: t.name, userName: null, desired: null, absentReason: `not found in ${runtime.source.label}`, problems: [`the person is not in ${runtime.source.label} and idflow never saw their source id, so their accounts cannot be found; the scheduled reconcile handles accounts of people gone from the source`] };
          }
          // Found by their marker, never by a name: a name can be someone else's.
          const sourceId = identity.id;
          if (input.mode === 'revoke') return { target: t.name, userName: null, sourceId, desired: null, absentReason: 'leaver event', absentPolicy: 'disable' };
          if (input.mode === 'purge') return { target: t.name, userName: null, sourceId, desired: null, absentReason: 'leaver retention ended', absentPolicy: 'delete' };
          const result = desiredAccount(identity, t);
          if (result.kind === 'invalid') return { target: t.name, userName: null, sourceId, desired: null, problems: result.problems };
          if (result.kind === 'outOfScope') return { target: t.name, userName: null, sourceId, desired: null, absentReason: `out of scope: ${result.scope.reason}` };
          const userName = result.account.userName;
          if (input.mode === 'prepare') return { target: t.name, userName, sourceId, desired: { ...result.account, enabled: false, groups: [] }, onlyIfAbsent: true };
          return { target: t.name, userName, sourceId, desired: result.account };
        });
      return { configVersion: runtime.configVersion, decisions };
    },

    /** provision: plan against the target's current state and apply, in order. Safe to retry. */
    async provisionAccount(input: ProvisionInput): Promise<ProvisionResult> {
      const plan = await planFor(input);
      const applied: AppliedAction[] = [];
      if (input.dryRun) return { target: input.target, plan, applied };
      const groupsToCreate = plan.actions.flatMap((a) => (a.op === 'createGroup' ? [{ group: a.group, workflowId: managedGroupWorkflowId(input.target, a.group) }] : []));
      if (groupsToCreate.length > 0) return { target: input.target, plan, applied, groupsToCreate };
      const c = connector(input.target);
      const withheld = input.withholdRevocations ? plan.actions.filter(revokesAccess) : [];
      try {
        for (const action of plan.actions) if (!withheld.includes(action)) applied.push(await applyAction(c, action));
      } catch (err) {
        throw afterWrites(err, applied);
      }
      return { target: input.target, plan, applied, ...(withheld.length ? { withheld } : {}) };
    },

    /** Looks, then creates if missing: only ever run by a group's own workflow, so never twice at once. */
    async ensureGroup(input: { target: string; group: string }): Promise<ActualGroup> {
      return connector(input.target).createGroup(input.group);
    },

    /** verify: read back and plan again; anything still to do is a difference. */
    async verifyAccount(input: ProvisionInput): Promise<VerifyResult> {
      const plan = await planFor(input);
      const { verified, findings } = verification(plan);
      return { target: input.target, verified, differences: plan.actions, ...(findings.length ? { findings } : {}) };
    },
  };
}

/** What a failed provisioning carries, last in its failure's details, when it had written before failing. */
export interface WritesBeforeFailure {
  writesBeforeFailure: AppliedAction[];
}

/**
 * A failure after some writes went through: the same failure (type, retryability, delay), saying
 * which writes it came after, so the outcome does not report "0 changes" for a target that changed.
 */
export function afterWrites(err: unknown, applied: AppliedAction[]): unknown {
  if (applied.length === 0) return err;
  const f = err instanceof ApplicationFailure ? err : null;
  const message = err instanceof Error ? err.message : String(err);
  const writes: WritesBeforeFailure = { writesBeforeFailure: applied };
  return ApplicationFailure.create({
    type: f?.type ?? (err instanceof Error ? err.name : 'Error'),
    message: `${message} (after ${applied.length} write${applied.length === 1 ? '' : 's'}: ${applied.map((a) => `${a.op} ${a.userName}${a.group ? ` ${a.group}` : ''}`).join(', ')})`,
    nonRetryable: f?.nonRetryable ?? false,
    details: [...(f?.details ?? []), writes],
    ...(f?.nextRetryDelay != null ? { nextRetryDelay: f.nextRetryDelay } : {}),
  });
}

/**
 * `absentInRead`: the caller read the whole target in this run and the plan's creates rest on that
 * read. `created` receives the new account (kept out of the result, which goes into history).
 */
export async function applyAction(c: TargetConnector, action: Action, opts: { absentInRead?: boolean; created?: (account: ActualAccount) => void } = {}): Promise<AppliedAction> {
  const done = (detail?: unknown, group?: string): AppliedAction => ({ op: action.op, userName: action.userName, ...(group ? { group } : {}), ...(detail ? { detail } : {}) });
  const account = 'externalId' in action ? { userName: action.op === 'rename' ? action.from : action.userName, externalId: action.externalId } : null;
  switch (action.op) {
    case 'createGroup':
      await c.createGroup(action.group);
      return done(undefined, action.group);
    case 'rename':
      await c.renameAccount(account!, action.userName);
      return done({ from: action.from });
    case 'create': {
      const account = await c.createAccount({ userName: action.userName, externalId: action.externalId, employeeId: action.employeeId, enabled: action.enabled, attributes: action.attributes, adopt: action.adopt, ...(opts.absentInRead ? { absentInRead: true } : {}) });
      opts.created?.(account);
      return done({ accountId: account.id });
    }
    case 'update':
      await c.updateAccount(account!, action.changes);
      return done();
    case 'enable':
      await c.enableAccount(account!);
      return done();
    case 'disable':
      return done(await c.disableAccount(account!));
    case 'delete':
      return done(await c.deleteAccount(account!));
    case 'addMember':
      await c.addMember(action.userName, action.group);
      return done(undefined, action.group);
    case 'removeMember':
      await c.removeMember(action.userName, action.group);
      return done(undefined, action.group);
  }
}
