import {
  AddUserToGroupCommand,
  CreateGroupCommand,
  CreateUserCommand,
  DeactivateMFADeviceCommand,
  DeleteAccessKeyCommand,
  DeleteLoginProfileCommand,
  DeleteServiceSpecificCredentialCommand,
  DeleteSigningCertificateCommand,
  DeleteSSHPublicKeyCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  DeleteVirtualMFADeviceCommand,
  DetachUserPolicyCommand,
  GetGroupCommand,
  GetUserCommand,
  IAMClient,
  paginateListAccessKeys,
  paginateListAttachedUserPolicies,
  paginateListGroupsForUser,
  paginateListMFADevices,
  paginateListSigningCertificates,
  paginateListSSHPublicKeys,
  paginateListUserPolicies,
  ListServiceSpecificCredentialsCommand,
  type ListServiceSpecificCredentialsCommandOutput,
  RemoveUserFromGroupCommand,
  TagUserCommand,
  UntagUserCommand,
  UpdateAccessKeyCommand,
  type Tag,
} from '@aws-sdk/client-iam';
import { ApplicationFailure } from '@temporalio/common';
import type { IamTargetConfig } from '../../domain/config';
import { checkIamTags, IAM_MAX_GROUPS_PER_USER } from '../../domain/iam-names';
import type { AttributeChange } from '../../domain/plan';
import type { ActualAccount } from '../../domain/types';
import type { CreateAccountInput, DeleteRecord, DisableRecord, TargetConnector } from './connector';

/** Tags idflow keeps on every IAM user it owns. */
export const IAM_TAGS = {
  owner: 'idflow:owner',
  employeeId: 'idflow:employee-id',
  externalId: 'idflow:external-id',
  status: 'idflow:status',
  deactivatedKeys: 'idflow:deactivated-keys',
} as const;
const MARKER_KEYS: ReadonlySet<string> = new Set(Object.values(IAM_TAGS));

/**
 * AWS IAM users and groups. Credentials come from the AWS SDK's default chain (environment, profile,
 * role), never from config. Least-privilege policy: README, "AWS IAM permissions".
 */
export class IamConnector implements TargetConnector {
  readonly maxGroupsPerUser = IAM_MAX_GROUPS_PER_USER;
  private readonly iam: IAMClient;

  constructor(
    readonly name: string,
    private readonly config: IamTargetConfig,
    private readonly instance: string,
    client?: IAMClient,
  ) {
    this.iam = client ?? new IAMClient({ region: config.region, endpoint: config.endpoint, maxAttempts: 5 });
  }

  async findAccount(userName: string): Promise<ActualAccount | null> {
    const user = await this.getUser(userName);
    if (!user) return null;
    const tags = tagMap(user.Tags);
    const groups: string[] = [];
    for await (const page of paginateListGroupsForUser({ client: this.iam }, { UserName: user.UserName! })) {
      for (const g of page.Groups ?? []) groups.push(g.GroupName!);
    }
    const attributes = Object.fromEntries(Object.entries(tags).filter(([k]) => !MARKER_KEYS.has(k)));
    return {
      id: user.UserId!,
      userName: user.UserName!,
      externalId: tags[IAM_TAGS.externalId] ?? null,
      employeeId: tags[IAM_TAGS.employeeId] ?? null,
      enabled: tags[IAM_TAGS.status] !== 'disabled',
      attributes,
      groups: groups.sort(),
      owned: this.owns(user.Path, tags),
    };
  }

  async existingGroups(names: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (const name of names) {
      try {
        await this.iam.send(new GetGroupCommand({ GroupName: name, MaxItems: 1 }));
        found.add(name);
      } catch (err) {
        if (!isAws(err, 'NoSuchEntity')) throw classify(err, `GetGroup ${name}`);
      }
    }
    return found;
  }

  async createAccount(input: CreateAccountInput): Promise<ActualAccount> {
    const tags: Record<string, string> = {
      ...input.attributes,
      [IAM_TAGS.owner]: this.instance,
      [IAM_TAGS.employeeId]: input.employeeId,
      [IAM_TAGS.externalId]: input.externalId,
      [IAM_TAGS.status]: input.enabled ? 'enabled' : 'disabled',
    };
    const problems = checkIamTags(tags);
    if (problems.length > 0) throw ApplicationFailure.nonRetryable(`IAM user ${input.userName}: ${problems.join('; ')}`, 'Target.invalidInput');
    try {
      await this.iam.send(new CreateUserCommand({ UserName: input.userName, Path: this.config.path, Tags: toTags(tags) }));
    } catch (err) {
      if (!isAws(err, 'EntityAlreadyExists')) throw classify(err, `CreateUser ${input.userName}`);
      // A retry after a crash finds its own earlier write: that is success, not a conflict.
    }
    const actual = await this.findAccount(input.userName);
    if (!actual) throw new Error(`IAM user ${input.userName} is not readable after CreateUser (eventual consistency); retrying`);
    if (!actual.owned || actual.externalId !== input.externalId) {
      throw ApplicationFailure.nonRetryable(
        `IAM user ${input.userName} already exists and belongs to ${actual.owned ? `identity ${actual.externalId}` : 'something idflow does not own'}; it was left untouched`,
        'Target.conflict',
      );
    }
    return actual;
  }

  async updateAccount(userName: string, changes: readonly AttributeChange[]): Promise<void> {
    await this.requireOwned(userName);
    const set = Object.fromEntries(changes.filter((c) => c.to !== null).map((c) => [c.attribute, c.to as string]));
    const unset = changes.filter((c) => c.to === null).map((c) => c.attribute);
    const problems = checkIamTags(set);
    if (problems.length > 0) throw ApplicationFailure.nonRetryable(`IAM user ${userName}: ${problems.join('; ')}`, 'Target.invalidInput');
    if (Object.keys(set).length > 0) await this.send(new TagUserCommand({ UserName: userName, Tags: toTags(set) }), `TagUser ${userName}`);
    if (unset.length > 0) await this.send(new UntagUserCommand({ UserName: userName, TagKeys: unset }), `UntagUser ${userName}`);
  }

  async enableAccount(userName: string): Promise<void> {
    const tags = await this.requireOwned(userName);
    const keys = (tags[IAM_TAGS.deactivatedKeys] ?? '').split(' ').filter(Boolean);
    for (const AccessKeyId of keys) {
      await this.ignoring('NoSuchEntity', new UpdateAccessKeyCommand({ UserName: userName, AccessKeyId, Status: 'Active' }), `UpdateAccessKey ${userName}`);
    }
    await this.send(new TagUserCommand({ UserName: userName, Tags: toTags({ [IAM_TAGS.status]: 'enabled' }) }), `TagUser ${userName}`);
    if (keys.length > 0) await this.send(new UntagUserCommand({ UserName: userName, TagKeys: [IAM_TAGS.deactivatedKeys] }), `UntagUser ${userName}`);
  }

  /** Deletes the console password, deactivates access keys and leaves every group; records what it did. */
  async disableAccount(userName: string): Promise<DisableRecord> {
    const tags = await this.requireOwned(userName);
    const loginProfileDeleted = await this.ignoring('NoSuchEntity', new DeleteLoginProfileCommand({ UserName: userName }), `DeleteLoginProfile ${userName}`);
    const deactivated = new Set((tags[IAM_TAGS.deactivatedKeys] ?? '').split(' ').filter(Boolean));
    for await (const page of paginateListAccessKeys({ client: this.iam }, { UserName: userName })) {
      for (const key of page.AccessKeyMetadata ?? []) {
        if (key.Status !== 'Active') continue;
        await this.send(new UpdateAccessKeyCommand({ UserName: userName, AccessKeyId: key.AccessKeyId!, Status: 'Inactive' }), `UpdateAccessKey ${userName}`);
        deactivated.add(key.AccessKeyId!);
      }
    }
    const removedGroups = await this.leaveAllGroups(userName);
    const marker: Record<string, string> = { [IAM_TAGS.status]: 'disabled' };
    if (deactivated.size > 0) marker[IAM_TAGS.deactivatedKeys] = [...deactivated].sort().join(' ');
    await this.send(new TagUserCommand({ UserName: userName, Tags: toTags(marker) }), `TagUser ${userName}`);
    return { removedGroups, deactivatedAccessKeys: [...deactivated].sort(), loginProfileDeleted };
  }

  /** Clears everything AWS requires before DeleteUser, in its documented order, then deletes. */
  async deleteAccount(userName: string): Promise<DeleteRecord> {
    const tags = await this.requireOwned(userName).catch((err) => {
      if (err instanceof GoneError) return null;
      throw err;
    });
    if (tags === null) return { steps: ['user already gone'] };
    const steps: string[] = [];
    const u = { UserName: userName };
    if (await this.ignoring('NoSuchEntity', new DeleteLoginProfileCommand(u), 'DeleteLoginProfile')) steps.push('DeleteLoginProfile');
    for await (const p of paginateListAccessKeys({ client: this.iam }, u)) {
      for (const k of p.AccessKeyMetadata ?? []) {
        await this.send(new DeleteAccessKeyCommand({ ...u, AccessKeyId: k.AccessKeyId! }), 'DeleteAccessKey');
        steps.push(`DeleteAccessKey ${k.AccessKeyId}`);
      }
    }
    for await (const p of paginateListSigningCertificates({ client: this.iam }, u)) {
      for (const c of p.Certificates ?? []) {
        await this.send(new DeleteSigningCertificateCommand({ ...u, CertificateId: c.CertificateId! }), 'DeleteSigningCertificate');
        steps.push(`DeleteSigningCertificate ${c.CertificateId}`);
      }
    }
    for await (const p of paginateListSSHPublicKeys({ client: this.iam }, u)) {
      for (const k of p.SSHPublicKeys ?? []) {
        await this.send(new DeleteSSHPublicKeyCommand({ ...u, SSHPublicKeyId: k.SSHPublicKeyId! }), 'DeleteSSHPublicKey');
        steps.push(`DeleteSSHPublicKey ${k.SSHPublicKeyId}`);
      }
    }
    const creds = await this.send<ListServiceSpecificCredentialsCommandOutput>(new ListServiceSpecificCredentialsCommand(u), 'ListServiceSpecificCredentials');
    for (const c of creds.ServiceSpecificCredentials ?? []) {
      await this.send(new DeleteServiceSpecificCredentialCommand({ ...u, ServiceSpecificCredentialId: c.ServiceSpecificCredentialId! }), 'DeleteServiceSpecificCredential');
      steps.push(`DeleteServiceSpecificCredential ${c.ServiceSpecificCredentialId}`);
    }
    for await (const p of paginateListMFADevices({ client: this.iam }, u)) {
      for (const d of p.MFADevices ?? []) {
        await this.send(new DeactivateMFADeviceCommand({ ...u, SerialNumber: d.SerialNumber! }), 'DeactivateMFADevice');
        steps.push(`DeactivateMFADevice ${d.SerialNumber}`);
        if (d.SerialNumber!.startsWith('arn:')) {
          await this.ignoring('NoSuchEntity', new DeleteVirtualMFADeviceCommand({ SerialNumber: d.SerialNumber! }), 'DeleteVirtualMFADevice');
          steps.push(`DeleteVirtualMFADevice ${d.SerialNumber}`);
        }
      }
    }
    for await (const p of paginateListUserPolicies({ client: this.iam }, u)) {
      for (const name of p.PolicyNames ?? []) {
        await this.send(new DeleteUserPolicyCommand({ ...u, PolicyName: name }), 'DeleteUserPolicy');
        steps.push(`DeleteUserPolicy ${name}`);
      }
    }
    for await (const p of paginateListAttachedUserPolicies({ client: this.iam }, u)) {
      for (const pol of p.AttachedPolicies ?? []) {
        await this.send(new DetachUserPolicyCommand({ ...u, PolicyArn: pol.PolicyArn! }), 'DetachUserPolicy');
        steps.push(`DetachUserPolicy ${pol.PolicyArn}`);
      }
    }
    for (const g of await this.leaveAllGroups(userName)) steps.push(`RemoveUserFromGroup ${g}`);
    if (await this.ignoring('NoSuchEntity', new DeleteUserCommand(u), 'DeleteUser')) steps.push('DeleteUser');
    return { steps };
  }

  async createGroup(name: string): Promise<void> {
    await this.ignoring('EntityAlreadyExists', new CreateGroupCommand({ GroupName: name, Path: this.config.path }), `CreateGroup ${name}`);
  }

  async addMember(userName: string, group: string): Promise<void> {
    await this.requireOwned(userName);
    await this.send(new AddUserToGroupCommand({ UserName: userName, GroupName: group }), `AddUserToGroup ${userName} ${group}`);
  }

  async removeMember(userName: string, group: string): Promise<void> {
    await this.requireOwned(userName);
    await this.ignoring('NoSuchEntity', new RemoveUserFromGroupCommand({ UserName: userName, GroupName: group }), `RemoveUserFromGroup ${userName} ${group}`);
  }

  private owns(path: string | undefined, tags: Record<string, string>): boolean {
    return path === this.config.path && tags[IAM_TAGS.owner] === this.instance;
  }

  private async getUser(userName: string) {
    try {
      return (await this.iam.send(new GetUserCommand({ UserName: userName }))).User ?? null;
    } catch (err) {
      if (isAws(err, 'NoSuchEntity')) return null;
      throw classify(err, `GetUser ${userName}`);
    }
  }

  /** Every write first proves the user is idflow's: ownership is checked at the point of change. */
  private async requireOwned(userName: string): Promise<Record<string, string>> {
    const user = await this.getUser(userName);
    if (!user) throw new GoneError(userName);
    const tags = tagMap(user.Tags);
    if (!this.owns(user.Path, tags)) {
      throw ApplicationFailure.nonRetryable(`IAM user ${userName} is not owned by idflow instance "${this.instance}"; refusing to modify it`, 'Target.notOwned');
    }
    return tags;
  }

  private async leaveAllGroups(userName: string): Promise<string[]> {
    const groups: string[] = [];
    for await (const page of paginateListGroupsForUser({ client: this.iam }, { UserName: userName })) {
      for (const g of page.Groups ?? []) groups.push(g.GroupName!);
    }
    for (const g of groups) {
      await this.ignoring('NoSuchEntity', new RemoveUserFromGroupCommand({ UserName: userName, GroupName: g }), `RemoveUserFromGroup ${userName} ${g}`);
    }
    return groups.sort();
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private async send<T>(command: any, what: string): Promise<T> {
    try {
      return (await this.iam.send(command)) as T;
    } catch (err) {
      throw classify(err, what);
    }
  }

  /** Sends; an error of the named kind means the state is already as wanted. Returns whether the call changed anything. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private async ignoring(code: string, command: any, what: string): Promise<boolean> {
    try {
      await this.iam.send(command);
      return true;
    } catch (err) {
      if (isAws(err, code)) return false;
      throw classify(err, what);
    }
  }
}

class GoneError extends Error {
  constructor(userName: string) {
    super(`IAM user ${userName} does not exist`);
    this.name = 'GoneError';
  }
}

function isAws(err: unknown, code: string): boolean {
  const name = (err as { name?: string; Code?: string })?.name ?? '';
  return name === code || name === `${code}Exception`;
}

/** LimitExceeded and validation errors will not heal on retry; throttling and 5xx will. */
function classify(err: unknown, what: string): Error {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number; requestId?: string } };
  const status = e.$metadata?.httpStatusCode ?? 0;
  const name = e.name ?? 'Error';
  const message = `IAM ${what} failed: ${name}: ${e.message ?? ''} (request-id ${e.$metadata?.requestId ?? 'none'})`;
  const retryable = name === 'Throttling' || name === 'ServiceFailure' || name === 'ServiceFailureException' || name === 'ConcurrentModification' || name === 'ConcurrentModificationException' || status >= 500 || status === 0;
  return ApplicationFailure.create({ message, type: `IAM.${name.replace(/Exception$/, '')}`, nonRetryable: !retryable });
}

function tagMap(tags: Tag[] | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).map((t) => [t.Key!, t.Value ?? '']));
}

function toTags(tags: Record<string, string>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}
