import {
  CreateAccessKeyCommand,
  CreateLoginProfileCommand,
  CreateUserCommand,
  GetLoginProfileCommand,
  GetUserCommand,
  ListAccessKeysCommand,
  ListGroupsForUserCommand,
  ListUsersCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import type { TargetConnector } from '../../targets/connector';
import { createIamClient } from '../../targets/aws-iam/client';
import { IamConnector } from '../../targets/aws-iam/connector';
import { ScimConnector } from '../../targets/scim/connector';
import { SCIM_ENTERPRISE_USER } from '../../targets/scim/schema';
import {
  forceIamPages,
  type IamCall,
  iamEndpoint,
  iamTargetConfig,
  randomId,
  recordIam,
  recordingFetch,
  resetMoto,
  scimAll,
  scimBase,
  type ScimCall,
  scimCleanup,
  scimRaw,
  scimTargetConfig,
  scimToken,
  TEST_CREDENTIALS,
} from './support';

/**
 * One entry per target implementation: how the contract suite builds a connector against the real
 * test server, resets state, makes an account behind idflow's back and reads the wire.
 * A new target is one module plus one entry here.
 */
export interface Harness {
  kind: string;
  /** Three attribute names this target accepts, and a legal value for each. */
  attrs: [string, string, string];
  value(i: number): string;
  /** Whether the account keeps DesiredAccount.employeeId on its own (IAM: a tag; SCIM: only if mapped). */
  storesEmployeeId: boolean;
  reset(): Promise<void>;
  teardown(): Promise<void>;
  /** Names made unique to this run where the server is shared. */
  user(name: string): string;
  group(name: string): string;
  /** Source groups to target groups, as a config would map them. */
  groupMap(): Record<string, string>;
  make(opts?: MakeOptions): Made;
  /** The write call that creates an account, as writes() names it. */
  createCall: string;
  /** An account made by hand in the target: no idflow marker. */
  createUnowned(userName: string): Promise<void>;
  /** An account made by hand that nobody marked: no externalId, no idflow tags (adoptable). */
  createUnmarked(userName: string): Promise<void>;
  /** An account someone else marked as theirs (another idflow instance, an HR id): never adoptable. */
  createMarkedByOther(userName: string): Promise<void>;
  /** The raw account, to prove a refused write changed nothing. */
  snapshot(userName: string): Promise<unknown>;
  /** Gives the account something to revoke on disable (IAM: a password and two access keys). */
  addCredentials(userName: string): Promise<void>;
  /** Whether the account can no longer sign in. */
  lockedOut(userName: string): Promise<boolean>;
  /** Accounts whose name equals this one regardless of case (raw). */
  accountsNamed(userName: string): Promise<number>;
}

export interface MakeOptions {
  pageSize?: number;
  memberBatchSize?: number;
  /** The first call with this write name reaches the server, but its answer is lost (a crash). */
  loseResponseOnce?: string;
}

export interface Made {
  connector: TargetConnector;
  /** Write calls on the wire since the last clear, as short names. */
  writes(): string[];
  /** Read calls on the wire since the last clear. */
  reads(): number;
  /** What the update calls on the wire set and removed. */
  updatePayload(): { set: Record<string, string>; unset: string[] };
  clear(): void;
}

// ------------------------------------------------------------------ AWS IAM on moto

const IAM_READS = /^(Get|List)/;

export function iamHarness(): Harness {
  const raw = (): IAMClient => createIamClient({ region: 'us-east-1', endpoint: iamEndpoint() }, { credentials: TEST_CREDENTIALS, retry: { maxAttempts: 1 } });
  const h: Harness = {
    kind: 'aws-iam',
    createCall: 'CreateUser',
    attrs: ['Department', 'JobTitle', 'DisplayName'],
    value: (i) => `value ${i}`,
    storesEmployeeId: true,
    reset: resetMoto,
    teardown: async () => {},
    user: (name) => name,
    group: (name) => `idflow-${name}`,
    groupMap: () => ({ Engineering: h.group('eng'), Sales: h.group('sales') }),
    make(opts = {}) {
      const client = createIamClient({ region: 'us-east-1', endpoint: iamEndpoint() }, { credentials: TEST_CREDENTIALS, retry: { maxAttempts: 2, baseDelayMs: 5, throttlingBaseDelayMs: 5 } });
      const all: IamCall[] = recordIam(client);
      let from = 0;
      if (opts.pageSize) forceIamPages(client, opts.pageSize);
      let lose = opts.loseResponseOnce;
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const result = await next(args);
          if (lose && String(context.commandName).replace(/Command$/, '') === lose) {
            lose = undefined;
            throw Object.assign(new Error('socket hang up (the answer was lost)'), { name: 'TimeoutError' });
          }
          return result;
        },
        { step: 'initialize', name: 'idflowTestLoseResponse', priority: 'low' },
      );
      const connector = new IamConnector('aws', iamTargetConfig(iamEndpoint(), h.groupMap(), h.attrs), 'idflow', client, { pageSize: opts.pageSize ?? 1000 });
      const since = () => all.slice(from);
      return {
        connector,
        writes: () => since().filter((c) => !IAM_READS.test(c.command)).map((c) => c.command),
        reads: () => since().filter((c) => IAM_READS.test(c.command)).length,
        updatePayload: () => {
          const set: Record<string, string> = {};
          const unset: string[] = [];
          for (const c of since()) {
            if (c.command === 'TagUser') for (const t of c.input.Tags as { Key: string; Value: string }[]) set[t.Key] = t.Value;
            if (c.command === 'UntagUser') unset.push(...(c.input.TagKeys as string[]));
          }
          return { set, unset };
        },
        clear: () => {
          from = all.length;
        },
      };
    },
    async createUnowned(userName) {
      // In idflow's own path, without the owner tag: the case where the path alone would mislead.
      await raw().send(new CreateUserCommand({ UserName: userName, Path: '/idflow/', Tags: [{ Key: 'Department', Value: 'hand made' }] }));
    },
    async createUnmarked(userName) {
      // Outside idflow's path: adoption moves it in.
      await raw().send(new CreateUserCommand({ UserName: userName, Path: '/', Tags: [{ Key: 'team', Value: 'hand made' }] }));
    },
    async createMarkedByOther(userName) {
      await raw().send(new CreateUserCommand({ UserName: userName, Path: '/idflow/', Tags: [{ Key: 'idflow:owner', Value: 'another-instance' }, { Key: 'idflow:external-id', Value: 'someone-else' }] }));
    },
    async snapshot(userName) {
      const c = raw();
      const user = (await c.send(new GetUserCommand({ UserName: userName }))).User!;
      const groups = (await c.send(new ListGroupsForUserCommand({ UserName: userName }))).Groups ?? [];
      const keys = (await c.send(new ListAccessKeysCommand({ UserName: userName }))).AccessKeyMetadata ?? [];
      return { path: user.Path, tags: user.Tags, groups: groups.map((g) => g.GroupName), keys: keys.map((k) => [k.AccessKeyId, k.Status]) };
    },
    async addCredentials(userName) {
      const c = raw();
      await c.send(new CreateLoginProfileCommand({ UserName: userName, Password: 'Initial-Passw0rd!' }));
      await c.send(new CreateAccessKeyCommand({ UserName: userName }));
      await c.send(new CreateAccessKeyCommand({ UserName: userName }));
    },
    async lockedOut(userName) {
      const c = raw();
      const keys = (await c.send(new ListAccessKeysCommand({ UserName: userName }))).AccessKeyMetadata ?? [];
      const login = await c.send(new GetLoginProfileCommand({ UserName: userName })).then(() => true, () => false);
      return !login && keys.every((k) => k.Status === 'Inactive');
    },
    async accountsNamed(userName) {
      const users = (await raw().send(new ListUsersCommand({}))).Users ?? [];
      return users.filter((u) => u.UserName!.toLowerCase() === userName.toLowerCase()).length;
    },
  };
  return h;
}

// ------------------------------------------------------------------ SCIM 2.0 on scim2-server

const TOKEN_ENV = 'IDFLOW_CONTRACT_SCIM_TOKEN';

export function scimHarness(): Harness {
  // The server is shared by the whole test run: names carry a run prefix and the instance is unique,
  // so ownership (and readState) only sees what this suite made.
  const prefix = `ct${randomId(3)}-`;
  const instance = `contract-${randomId(3)}`;
  const h: Harness = {
    kind: 'scim',
    createCall: 'POST /Users',
    attrs: ['title', `${SCIM_ENTERPRISE_USER}:department`, 'emails[type eq "work"].value'],
    value: (i) => `v${i}@example.com`,
    storesEmployeeId: false,
    reset: () => scimCleanup(prefix),
    teardown: () => scimCleanup(prefix),
    user: (name) => `${prefix}${name}`,
    group: (name) => `${prefix}${name}`,
    groupMap: () => ({ Engineering: h.group('eng'), Sales: h.group('sales') }),
    make(opts = {}) {
      const calls: ScimCall[] = [];
      let from = 0;
      const recording = recordingFetch(calls);
      let lose = opts.loseResponseOnce;
      const lossy: typeof fetch = async (input, init) => {
        const res = await recording(input, init);
        if (lose && `${init?.method ?? 'GET'} ${new URL(String(input)).pathname.replace(/^.*?\/v2/, '')}` === lose) {
          lose = undefined;
          throw new TypeError('fetch failed: socket hang up (the answer was lost)');
        }
        return res;
      };
      const connector = new ScimConnector('app', scimTargetConfig(scimBase(), TOKEN_ENV, h.groupMap(), h.attrs), instance, {
        env: { [TOKEN_ENV]: scimToken() },
        fetch: lossy,
        pageSize: opts.pageSize,
        memberBatchSize: opts.memberBatchSize,
      });
      const since = () => calls.slice(from);
      return {
        connector,
        writes: () => since().filter((c) => c.method !== 'GET').map((c) => `${c.method} ${c.path.replace(/\/[0-9a-f]{32}$/, '/{id}')}`),
        reads: () => since().filter((c) => c.method === 'GET' && c.path !== '/ServiceProviderConfig').length,
        updatePayload: () => {
          const set: Record<string, string> = {};
          const unset: string[] = [];
          for (const c of since()) {
            if (c.method !== 'PATCH' || !c.path.startsWith('/Users/')) continue;
            for (const op of (c.body as { Operations: { op: string; path: string; value?: unknown }[] }).Operations) {
              if (op.op === 'remove') unset.push(op.path.replace(/\[type eq "(\w+)"\]$/, '[type eq "$1"].value'));
              else if (op.op === 'replace') set[op.path] = String(op.value);
              else for (const e of op.value as Record<string, string>[]) set[`${op.path}[type eq "${e.type}"].value`] = e.value!;
            }
          }
          return { set, unset };
        },
        clear: () => {
          from = calls.length;
        },
      };
    },
    async createUnowned(userName) {
      const r = await scimRaw('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName, title: 'hand made', externalId: 'hr-4711' });
      if (r.status !== 201) throw new Error(`could not create ${userName}: ${JSON.stringify(r.body)}`);
    },
    async createUnmarked(userName) {
      const r = await scimRaw('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName, title: 'hand made' });
      if (r.status !== 201) throw new Error(`could not create ${userName}: ${JSON.stringify(r.body)}`);
    },
    async createMarkedByOther(userName) {
      await this.createUnowned(userName);
    },
    async snapshot(userName) {
      const [u] = await scimAll('Users', `&filter=${encodeURIComponent(`userName eq "${userName}"`)}`);
      const groups = await scimAll('Groups', `&filter=${encodeURIComponent(`members[value eq "${String(u!.id)}"]`)}&attributes=displayName`);
      return { user: u, groups: groups.map((g) => g.displayName) };
    },
    async addCredentials() {},
    async lockedOut(userName) {
      const [u] = await scimAll('Users', `&filter=${encodeURIComponent(`userName eq "${userName}"`)}`);
      return u?.active === false;
    },
    async accountsNamed(userName) {
      return (await scimAll('Users', `&filter=${encodeURIComponent(`userName eq "${userName}"`)}`)).length;
    },
  };
  return h;
}

/** The factory table: every target implementation the contract suite runs against. */
const ALL_HARNESSES: [string, () => Harness][] = [
  ['aws-iam (moto)', iamHarness],
  ['scim (scim2-server)', scimHarness],
];

/** IDFLOW_CONTRACT_KINDS=scim runs only those kinds' entries (a SCIM app of your own needs no moto). */
export const HARNESSES = ALL_HARNESSES.filter(([label]) => !process.env.IDFLOW_CONTRACT_KINDS || process.env.IDFLOW_CONTRACT_KINDS.split(',').some((k) => label.startsWith(k.trim())));
