import ms, { type StringValue } from 'ms';
import { z } from 'zod';

/**
 * idflow.config.yaml, validated. Secrets are never values here: the config names the environment
 * variables that hold them, so a loaded config can be logged and shown by `idflow config check`.
 */

const Name = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'a lower-case name of letters, digits and dashes');
const Expr = z.string().min(1, 'an expression').max(10_000);

export const AttributeMappingSchema = z.union([
  Expr,
  z.strictObject({
    expr: Expr,
    /** `createOnly` values are set when the account is created and never overwritten later. */
    apply: z.enum(['always', 'createOnly']).default('always'),
  }),
]);

const ScopeFilterSchema = z.strictObject({
  attribute: z.string().min(1),
  op: z.enum(['eq', 'ne', 'in', 'notIn', 'startsWith', 'present', 'absent']),
  value: z.union([z.string(), z.boolean(), z.array(z.string())]).optional(),
});

export const ScopeSchema = z.strictObject({
  /** In scope only when a transitive member of at least one of these source groups (display name or id). */
  groups: z.array(z.string().min(1)).optional(),
  /** All filters must hold (AND). */
  filters: z.array(ScopeFilterSchema).default([]),
  /** Whether a disabled Entra account stays in scope (and so gets a disabled target account). */
  includeDisabled: z.boolean().default(true),
});

const GroupMappingSchema = z.strictObject({
  /** Create mapped target groups that do not exist yet. */
  createMissing: z.boolean().default(true),
  /** Source group (display name or id) to one or more target group names. */
  map: z.record(z.string().min(1), z.union([z.string().min(1), z.array(z.string().min(1)).min(1)])).default({}),
});

export const DurationSchema = z.string().regex(/^\d+(\.\d+)?\s*(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)$/i, 'a duration such as "30 days", "90 seconds" or "10 minutes"');

/** Milliseconds of a duration DurationSchema accepted: `ms`, the parser the workflows' durations go through (Temporal's msToNumber). */
export function durationMs(d: string): number {
  return ms(d as StringValue);
}

const DeletionGuardSchema = z.strictObject({
  /** Hold deletes and disables when one run would make more than this many. */
  maxCount: z.number().int().nonnegative().optional(),
  /** ... or when they exceed this share (0-100) of the target's owned accounts. */
  maxPercent: z.number().min(0).max(100).optional(),
  /**
   * Identity workflows (HR events, Entra ID's changes) are counted across people: more than maxCount
   * people losing access on this target within this window are held for approval.
   */
  window: DurationSchema.default('1 hour'),
});

/** The settings every target kind has; a kind's schema (targets/<kind>/config.ts) adds its own to these. */
export const TargetCommon = {
  enabled: z.boolean().default(true),
  scope: ScopeSchema.default({ filters: [], includeDisabled: true }),
  /** What happens to an account whose identity leaves scope. */
  onLeaveScope: z.enum(['disable', 'delete', 'ignore']).default('disable'),
  /** Expression giving the account's name in the target. */
  userName: Expr,
  attributes: z.record(z.string().min(1), AttributeMappingSchema).default({}),
  groups: GroupMappingSchema.default({ createMissing: true, map: {} }),
  /** How an account is found: always by the marker first; `userName` also finds an unmarked one, to report or adopt (domain/match.ts). */
  matching: z
    .array(z.enum(['externalId', 'userName']))
    .min(1)
    .refine((m) => m[0] === 'externalId', 'externalId first: the marker is the person, so a name never outranks it (a rename would split them in two)')
    .default(['externalId', 'userName']),
  /** Target accounts that match no source identity: report them, or adopt them when they match by name. */
  unmatched: z.enum(['report', 'adopt']).default('report'),
  deletionGuard: DeletionGuardSchema.default({ maxCount: 10, maxPercent: 20, window: '1 hour' }),
};

/**
 * What the engine knows of any source's settings: its kind. Each kind's own schema lives with its
 * adapter (sources/<kind>/config.ts) and reaches the config through the registry.
 */
export interface SourceConfig {
  type: string;
}

export const LifecycleSchema = z.strictObject({
  /** How long a leaver's disabled accounts are kept before they are deleted; a rehire within it restores them. */
  leaverRetention: DurationSchema.default('30 days'),
  /** How long a joiner or rehire waits for the person to appear in Entra ID before failing. */
  waitForSourceUser: DurationSchema.default('1 hour'),
  /** A joiner with a future start date gets disabled accounts now, enabled at the start. */
  prepareJoinersDisabled: z.boolean().default(true),
  /** How far ahead an event's effectiveAt may be; further is refused as a likely typo (9999-12-31). */
  maxEffectiveIn: DurationSchema.default('400 days'),
  /** First wait before a leaver's revoke is tried again on a target that failed it; doubles up to 10 minutes, without end. */
  revokeRetryInterval: DurationSchema.default('10 seconds'),
  /**
   * How an event's employee id meets Entra ID's. `case-sensitive` (the default): an event for
   * e9020 when Entra ID has E9020 is refused, and nothing is done. `case-insensitive`: it is
   * handed to E9020's workflow, Entra ID's spelling.
   */
  employeeIds: z.enum(['case-sensitive', 'case-insensitive']).optional(),
  /** How often a purged HR leaver that Entra ID still lists is checked again (see IdflowLeftButInSource). */
  leaverSourceCheck: DurationSchema.optional(),
  /**
   * How long a person the source has just reported changed is asked for again when its reads do not
   * find them yet (replication lag) before the miss counts; default 1 minute.
   */
  sourceLagWait: DurationSchema.refine((d) => durationMs(d) <= 15 * 60_000, 'at most 15 minutes: each round is history, and replication lag is seconds').optional(),
});

const ScheduleSchema = z
  .strictObject({
    /** An interval such as "5 minutes" ... */
    every: DurationSchema.refine((d) => !/^0+(\.0+)?\s*[a-z]/i.test(d), 'every must be longer than zero').optional(),
    /** ... or a cron expression (five fields, e.g. every six hours on the hour). */
    cron: z.string().min(9).optional(),
    paused: z.boolean().default(false),
  })
  .refine((s) => (s.every === undefined) !== (s.cron === undefined), 'exactly one of every or cron');

export const SchedulesSchema = z.strictObject({
  reconcile: ScheduleSchema.optional(),
  deltaSync: ScheduleSchema.optional(),
});

export const ApprovalsSchema = z.strictObject({
  /**
   * Four eyes: whoever asked for what is held (started the reconcile run, sent the HR event) cannot
   * approve it. Rejecting stays open to them.
   */
  fourEyes: z.boolean().default(true),
});

/** What the engine knows of any target's settings: the common ones. A kind's connector reads its own. */
export type TargetConfig = z.output<z.ZodObject<typeof TargetCommon & { type: z.ZodString }>>;

/**
 * The whole config's schema, given the registered kinds' schemas: `source` one of the source kinds
 * (sources/registry.ts), each target one of the target kinds (targets/registry.ts).
 */
export function configSchema(kinds: { source: z.ZodType<SourceConfig>; defaultSource: SourceConfig; target: z.ZodType<TargetConfig> }) {
  return z.strictObject({
    version: z.literal(1),
    /** Marks what this idflow deployment owns, so two deployments never fight over an account. */
    instance: Name.default('idflow'),
    source: kinds.source.default(kinds.defaultSource),
    /** Temporal Schedules that `idflow schedule apply` creates or updates. */
    schedules: SchedulesSchema.default({}),
    lifecycle: LifecycleSchema.default({ leaverRetention: '30 days', waitForSourceUser: '1 hour', prepareJoinersDisabled: true, maxEffectiveIn: '400 days', revokeRetryInterval: '10 seconds' }),
    approvals: ApprovalsSchema.default({ fourEyes: true }),
    targets: z.record(Name, kinds.target).refine((t) => Object.keys(t).length > 0, 'at least one target'),
  });
}

export type Config = z.infer<ReturnType<typeof configSchema>>;
export type ScopeConfig = z.infer<typeof ScopeSchema>;
export type LifecyclePolicy = z.infer<typeof LifecycleSchema>;
export type ApprovalPolicy = z.infer<typeof ApprovalsSchema>;
export type ScheduleConfig = z.infer<typeof ScheduleSchema>;
export type AttributeMapping = z.infer<typeof AttributeMappingSchema>;

/** The target groups idflow manages for a target: exactly those its group map names. */
export function managedGroups(target: TargetConfig): string[] {
  const names = Object.values(target.groups.map).flatMap((g) => (Array.isArray(g) ? g : [g]));
  return [...new Set(names)].sort();
}
