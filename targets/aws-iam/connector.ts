import { type CredentialKind, credentialKinds, directPolicies, type IamCalls } from './credentials';
import {
  AddUserToGroupCommand,
  CreateGroupCommand,
  CreateUserCommand,
  DeactivateMFADeviceCommand,
  DeleteLoginProfileCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  DeleteVirtualMFADeviceCommand,
  DetachUserPolicyCommand,
  GetAccountAuthorizationDetailsCommand,
  type GetAccountAuthorizationDetailsCommandOutput,
  GetGroupCommand,
  type GetGroupCommandOutput,
  GetLoginProfileCommand,
  GetUserCommand,
  type Group,
  IAMClient,
  ListAccessKeysCommand,
  type ListAccessKeysCommandOutput,
  ListAttachedUserPoliciesCommand,
  type ListAttachedUserPoliciesCommandOutput,
  ListGroupsCommand,
  type ListGroupsCommandOutput,
  ListGroupsForUserCommand,
  type ListGroupsForUserCommandOutput,
  ListMFADevicesCommand,
  type ListMFADevicesCommandOutput,
  ListUserPoliciesCommand,
  type ListUserPoliciesCommandOutput,
  ListUsersCommand,
  type ListUsersCommandOutput,
  RemoveUserFromGroupCommand,
  TagUserCommand,
  type Tag,
  UntagUserCommand,
  UpdateAccessKeyCommand,
  UpdateUserCommand,
  type User,
} from '@aws-sdk/client-iam';
import { ApplicationFailure } from '@temporalio/common';
import { managedGroups } from '../../domain/config';
import { AccountGoneError, goneAsNotFound, goneAsNull } from '../failures';
import { classifyIamError, createIamClient, isForeignErrorPage } from './client';
import type { IamTargetConfig } from './config';
import { decodeList, encodeList, IAM_RESERVED_TAG_PREFIX, IAM_TAGS, isListKey, TAG_VALUE_CHARS, tagMap, toTags } from './tags';
import { checkIamTags, IAM_GROUP_NAME_MAX, IAM_MAX_GROUPS_PER_USER, IAM_MAX_TAGS, IAM_USER_NAME_MAX, iamNameKey } from './names';
import type { AttributeChange } from '../../domain/plan';
import type { AccountRef, ActualAccount, ActualGroup } from '../../domain/types';
import { type CreateAccountInput, type DeleteRecord, type DisableRecord, type KnownState, TARGET_FAILURE, type TargetConnector, type TargetState } from '../connector';

/** How long the index of user names behind the case-insensitive clash check is trusted. */
const NAME_INDEX_TTL_MS = 60_000;

const NAME_CHARS = /^[\w+=,.@-]+$/;

export interface IamConnectorOptions {
  /** MaxItems for every list call (1-1000, default 1000). IAM may return fewer; the Marker loop copes. */
  pageSize?: number;
}

interface MarkerIndex {
  byExternalId: Map<string, string>;
  byEmployeeId: Map<string, string[]>;
}

interface UserLike {
  UserId?: string;
  UserName?: string;
  Path?: string;
  Tags?: Tag[];
}

/**
 * AWS IAM users and groups under one path. Ownership: the user is under the configured path and
 * carries `idflow:owner = <instance>`; groups (IAM groups cannot be tagged) are owned when under the
 * path. Least-privilege policy: docs/targets.md.
 */
export class IamConnector implements TargetConnector {
  readonly maxGroupsPerUser = IAM_MAX_GROUPS_PER_USER;
  private readonly iam: IAMClient;
  private readonly pageSize: number;
  private readonly managed: ReadonlySet<string>;
  private readonly calls: IamCalls;
  private readonly credentials: CredentialKind[];

  constructor(
    readonly name: string,
    private readonly config: IamTargetConfig,
    private readonly instance: string,
    client?: IAMClient,
    options: IamConnectorOptions = {},
  ) {
    this.iam = client ?? createIamClient(config);
    this.pageSize = Math.min(1000, Math.max(1, options.pageSize ?? 1000));
    this.managed = new Set(managedGroups(config));
    this.calls = {
      iam: this.iam,
      pageSize: this.pageSize,
      pages: (command, items, what) => this.pages(command, items, what),
      send: (command, what) => this.send(command, what),
      ignoring: (code, command, what) => this.ignoring(code, command, what),
      isForeignErrorPage,
      classify: classifyIamError,
    };
    this.credentials = credentialKinds(this.calls);
  }

  // ---------------------------------------------------------------- reads

  async findAccount(userName: string): Promise<ActualAccount | null> {
    const user = await this.getUser(userName);
    if (!user) return null;
    return this.toActual(user, await this.groupsOf(user.UserName!));
  }

  /**
   * IAM cannot search by tag, so the marker is looked up in an index of idflow's users (one paged
   * read, kept for a minute) and the user then read to confirm it. A miss is never trusted from a
   * cached index: the index is read again first, so a missed account can never become a second one.
   */
  async findAccountByExternalId(externalId: string): Promise<ActualAccount | null> {
    const asked = Date.now();
    const cached = await this.markerIndex(asked - NAME_INDEX_TTL_MS);
    const found = await this.confirmMarker(cached, externalId);
    if (found) return found;
    const fresh = await this.markerIndex(asked);
    return fresh === cached ? null : this.confirmMarker(fresh, externalId);
  }

  /** From the same index as the markers, always read afresh: a leaver must not miss an account created a minute ago. */
  async findAccountsByEmployeeId(employeeId: string): Promise<ActualAccount[]> {
    const index = await this.markerIndex(Date.now());
    const found: ActualAccount[] = [];
    for (const name of index.byEmployeeId.get(employeeId) ?? []) {
      const actual = await this.findAccount(name);
      if (actual && actual.employeeId === employeeId) found.push(actual);
    }
    return found;
  }

  private async confirmMarker(index: MarkerIndex, externalId: string): Promise<ActualAccount | null> {
    const name = index.byExternalId.get(externalId);
    if (!name) return null;
    const actual = await this.findAccount(name);
    return actual?.owned && actual.externalId === externalId ? actual : null;
  }

  private markers: { index: Promise<MarkerIndex>; startedAt: number } | null = null;

  /** externalId -> user name, and employee id -> user names, for every user idflow owns, from a read started no earlier than `notBefore`. */
  private markerIndex(notBefore: number): Promise<MarkerIndex> {
    if (this.markers && this.markers.startedAt >= notBefore) return this.markers.index;
    const index = this.readState().then((state): MarkerIndex => {
      const byExternalId = new Map<string, string>();
      const byEmployeeId = new Map<string, string[]>();
      for (const a of state.accounts) {
        if (a.externalId) byExternalId.set(a.externalId, a.userName);
        if (a.employeeId) byEmployeeId.set(a.employeeId, [...(byEmployeeId.get(a.employeeId) ?? []), a.userName]);
      }
      return { byExternalId, byEmployeeId };
    });
    const entry = { index, startedAt: Date.now() };
    this.markers = entry;
    index.catch(() => {
      if (this.markers === entry) this.markers = null;
    });
    return index;
  }

  /** Keeps the marker index right after idflow's own writes, so they never cost another read. */
  private noteMarker(externalId: string, userName: string | null): void {
    void this.markers?.index.then((m) => (userName ? m.byExternalId.set(externalId, userName) : m.byExternalId.delete(externalId)), () => undefined);
  }

  async existingGroups(names: readonly string[]): Promise<Set<string>> {
    if (names.length === 0) return new Set();
    const wanted = new Set(names);
    const found = new Set<string>();
    for (const g of await this.listGroups(this.config.path)) {
      if (g.Path === this.config.path && wanted.has(g.GroupName!)) found.add(g.GroupName!);
    }
    return found;
  }

  /** One paged GetAccountAuthorizationDetails: users with Path, Tags and GroupList, and all groups. */
  async readState(): Promise<TargetState> {
    const accounts: ActualAccount[] = [];
    const groups: ActualGroup[] = [];
    let unownedCount = 0;
    let calls = 0;
    let Marker: string | undefined;
    do {
      const page = await this.send<GetAccountAuthorizationDetailsCommandOutput>(
        new GetAccountAuthorizationDetailsCommand({ Filter: ['User', 'Group'], MaxItems: this.pageSize, Marker }),
        'GetAccountAuthorizationDetails',
      );
      calls += 1;
      for (const u of page.UserDetailList ?? []) {
        if (u.Path !== this.config.path) continue;
        if (this.owns(u.Path, tagMap(u.Tags))) accounts.push(this.toActual(u, [...(u.GroupList ?? [])]));
        else unownedCount += 1;
      }
      for (const g of page.GroupDetailList ?? []) {
        const owned = g.Path === this.config.path;
        if (owned || this.managed.has(g.GroupName!)) groups.push({ id: g.GroupId!, name: g.GroupName!, owned });
      }
      Marker = nextMarker(page);
    } while (Marker);
    accounts.sort((a, b) => a.userName.localeCompare(b.userName));
    groups.sort((a, b) => a.name.localeCompare(b.name));
    return { accounts, groups, unownedCount, calls };
  }

  // ---------------------------------------------------------------- account writes

  async createAccount(input: CreateAccountInput): Promise<ActualAccount> {
    const tags: Record<string, string> = {
      ...input.attributes,
      [IAM_TAGS.owner]: this.instance,
      [IAM_TAGS.employeeId]: input.employeeId,
      [IAM_TAGS.externalId]: input.externalId,
      [IAM_TAGS.status]: input.enabled ? 'enabled' : 'disabled',
    };
    const problems = [...iamNameProblems('user', input.userName, IAM_USER_NAME_MAX), ...reservedKeys(Object.keys(input.attributes)), ...checkIamTags(tags)];
    if (problems.length > 0) throw invalid(`IAM user ${input.userName}: ${problems.join('; ')}`);

    // IAM names are unique regardless of case; moto is case-sensitive, so look, don't rely on a 409.
    const clash = await this.findUserIgnoringCase(input.userName);
    if (clash && clash.UserName !== input.userName) {
      const whose = this.owns(clash.Path, tagMap(clash.Tags)) ? `idflow's account for identity ${tagMap(clash.Tags)[IAM_TAGS.externalId] ?? '?'}` : 'an account idflow does not own';
      throw ApplicationFailure.nonRetryable(
        `IAM user name ${input.userName} collides with existing user ${clash.UserName} (${whose}); IAM user names are unique regardless of case, so nothing was created`,
        this.owns(clash.Path, tagMap(clash.Tags)) ? TARGET_FAILURE.conflict : TARGET_FAILURE.notOwned,
      );
    }
    if (!clash) {
      try {
        const created = await this.iam.send(new CreateUserCommand({ UserName: input.userName, Path: this.config.path, Tags: toTags(tags) }));
        (await this.userNameIndex()).set(iamNameKey(input.userName), input.userName);
        this.noteMarker(input.externalId, input.userName);
        // The answer is the account as written (tags included) and a new user is in no group: no read-back needed.
        if (created.User?.UserId) return this.toActual({ ...created.User, Tags: created.User.Tags ?? toTags(tags) }, []);
      } catch (err) {
        // Created meanwhile (a retry after a crash, or a race): the checks below decide whose it is.
        // Whatever happened, the cached names may now be wrong: the next look-up re-reads them.
        this.nameIndex = null;
        if (!isAws(err, 'EntityAlreadyExists')) throw classifyIamError(err, `CreateUser ${input.userName}`);
      }
    }
    let actual = await this.findAccount(input.userName);
    if (!actual) throw ApplicationFailure.retryable(`IAM user ${input.userName} is not readable after CreateUser (eventual consistency)`, TARGET_FAILURE.notFound);
    if (!actual.owned && input.adopt && actual.externalId === null && actual.employeeId === null) {
      actual = await this.adopt(input.userName, tags);
    }
    if (!actual.owned) {
      throw ApplicationFailure.nonRetryable(`IAM user ${input.userName} already exists and is not owned by idflow instance "${this.instance}"; it was left untouched`, TARGET_FAILURE.notOwned);
    }
    if (actual.externalId !== input.externalId) {
      throw ApplicationFailure.nonRetryable(`IAM user ${input.userName} already exists and belongs to identity ${actual.externalId}; it was left untouched`, TARGET_FAILURE.conflict);
    }
    return actual;
  }

  /**
   * Takes over an existing user nobody marked as theirs: moves it under idflow's path and tags it.
   * Access keys made before idflow knew the account are deactivated: idflow cannot tell whose they
   * are, and never records them for a rehire to bring back. Its other tags and groups stay; the
   * next plan brings mapped groups and attributes in line.
   */
  private async adopt(userName: string, tags: Record<string, string>): Promise<ActualAccount> {
    const user = await this.getUser(userName);
    if (user && user.Path !== this.config.path) await this.send(new UpdateUserCommand({ UserName: userName, NewPath: this.config.path }), `UpdateUser ${userName} NewPath`);
    for (const key of (await this.listAccessKeys(userName)).filter((k) => k.Status === 'Active')) {
      await this.ignoring('NoSuchEntity', new UpdateAccessKeyCommand({ UserName: userName, AccessKeyId: key.AccessKeyId!, Status: 'Inactive' }), `UpdateAccessKey ${userName} (adopt)`);
    }
    await this.send(new TagUserCommand({ UserName: userName, Tags: toTags(tags) }), `TagUser ${userName} (adopt)`);
    const adopted = await this.findAccount(userName);
    if (!adopted) throw ApplicationFailure.retryable(`IAM user ${userName} is not readable after adoption`, TARGET_FAILURE.notFound);
    return adopted;
  }

  /**
   * UpdateUser NewUserName: the user keeps its id, groups, credentials and tags. IAM names are unique
   * regardless of case, so any other user holding the name refuses the rename; a case-only rename
   * of the user itself goes through.
   */
  async renameAccount(account: AccountRef, newUserName: string): Promise<void> {
    const problems = iamNameProblems('user', newUserName, IAM_USER_NAME_MAX);
    if (problems.length > 0) throw invalid(`IAM user ${newUserName}: ${problems.join('; ')}`);
    const already = await this.getUser(newUserName);
    if (already && already.UserName === newUserName && this.marks(already, account.externalId)) return;
    await this.requireOwned(account).catch(goneAsNotFound);
    const clash = await this.findUserIgnoringCase(newUserName);
    if (clash && clash.UserName !== account.userName) {
      throw ApplicationFailure.nonRetryable(`IAM user ${account.userName} cannot be renamed to ${newUserName}: user ${clash.UserName} holds that name (IAM user names are unique regardless of case); nothing was changed`, TARGET_FAILURE.conflict);
    }
    try {
      await this.iam.send(new UpdateUserCommand({ UserName: account.userName, NewUserName: newUserName }));
    } catch (err) {
      if (isAws(err, 'EntityAlreadyExists')) throw ApplicationFailure.nonRetryable(`IAM user ${account.userName} cannot be renamed to ${newUserName}: the name is taken`, TARGET_FAILURE.conflict);
      throw classifyIamError(err, `UpdateUser ${account.userName} NewUserName ${newUserName}`);
    } finally {
      this.nameIndex = null;
    }
    this.noteMarker(account.externalId, newUserName);
  }

  /** TagUser with the changed attributes only, UntagUser with the removed ones. */
  async updateAccount(account: AccountRef, changes: readonly AttributeChange[]): Promise<void> {
    const { userName } = account;
    const { tags } = await this.requireOwned(account).catch(goneAsNotFound);
    const set = Object.fromEntries(changes.filter((c) => c.to !== null).map((c) => [c.attribute, c.to as string]));
    const unset = changes.filter((c) => c.to === null).map((c) => c.attribute);
    const merged: Record<string, string> = { ...tags, ...set };
    for (const k of unset) delete merged[k];
    const problems = [...reservedKeys(changes.map((c) => c.attribute)), ...checkIamTags(set)];
    if (Object.keys(merged).length > IAM_MAX_TAGS) problems.push(`the user would carry ${Object.keys(merged).length} tags, more than IAM's ${IAM_MAX_TAGS}`);
    if (problems.length > 0) throw invalid(`IAM user ${userName}: ${problems.join('; ')}`);
    if (Object.keys(set).length > 0) await this.send(new TagUserCommand({ UserName: userName, Tags: toTags(set) }), `TagUser ${userName}`);
    if (unset.length > 0) await this.send(new UntagUserCommand({ UserName: userName, TagKeys: unset }), `UntagUser ${userName}`);
  }

  /**
   * Reactivates the access keys idflow deactivated and rejoins the unmanaged groups it removed.
   * A group it may not (AccessDenied under a least-privilege policy) or can no longer (LimitExceeded)
   * rejoin stays listed in `idflow:removed-groups` for an administrator; one that is gone is dropped.
   */
  async enableAccount(account: AccountRef): Promise<void> {
    const { userName } = account;
    const { tags } = await this.requireOwned(account).catch(goneAsNotFound);
    // Managed groups come back through the plan (only those still mapped); the others are restored here.
    const groups = decodeList(tags, IAM_TAGS.removedGroups).filter((g) => !this.managed.has(g));
    for (const kind of this.credentials) {
      for (const id of decodeList(tags, kind.tag)) await kind.setStatus(userName, id, 'Active');
    }
    const unrestored: string[] = [];
    for (const GroupName of groups) {
      try {
        await this.iam.send(new AddUserToGroupCommand({ UserName: userName, GroupName }));
      } catch (err) {
        if (isAws(err, 'NoSuchEntity')) continue;
        if (isAws(err, 'AccessDenied') || isAws(err, 'LimitExceeded')) unrestored.push(GroupName);
        else throw classifyIamError(err, `AddUserToGroup ${userName} ${GroupName}`);
      }
    }
    const keep = encodeList(IAM_TAGS.removedGroups, unrestored);
    const set: Record<string, string> = { ...(tags[IAM_TAGS.status] !== 'enabled' ? { [IAM_TAGS.status]: 'enabled' } : {}), ...keep };
    if (Object.keys(set).length > 0) await this.send(new TagUserCommand({ UserName: userName, Tags: toTags(set) }), `TagUser ${userName}`);
    const lists = [IAM_TAGS.removedGroups, ...this.credentials.map((k) => k.tag)];
    const bookkeeping = Object.keys(tags).filter((k) => (lists.some((base) => isListKey(k, base)) || k === IAM_TAGS.loginProfileDeleted) && !(k in keep));
    if (bookkeeping.length > 0) await this.send(new UntagUserCommand({ UserName: userName, TagKeys: bookkeeping }), `UntagUser ${userName}`);
  }

  /**
   * Deletes the console password, sets every access key, SSH public key, signing certificate and
   * service-specific credential Inactive, and leaves every group. What it is about to change is
   * recorded in tags first, so a crash half-way loses nothing and a rehire can restore it; the
   * status tag turns `disabled` last, so an interrupted disable is repeated, not forgotten. Policies
   * attached to the user directly are not idflow's: they are reported as residual.
   */
  async disableAccount(account: AccountRef): Promise<DisableRecord> {
    const { userName } = account;
    const owned = await this.requireOwned(account).catch(goneAsNull);
    if (!owned) return { removedGroups: [], deactivatedAccessKeys: [], loginProfileDeleted: false, notes: [`user ${userName} does not exist`] };
    const { tags } = owned;
    const notes: string[] = [];
    const active = new Map<CredentialKind, string[]>();
    const deactivated: Partial<Record<CredentialKind['name'], string[]>> = {};
    for (const kind of this.credentials) {
      const listed = await kind.list(userName);
      if (listed === null) notes.push(`${kind.name}: this endpoint does not implement the listing; not checked`);
      const ids = (listed ?? []).filter((k) => k.status === 'Active').map((k) => k.id);
      active.set(kind, ids);
      deactivated[kind.name] = [...new Set([...decodeList(tags, kind.tag), ...ids])].sort();
    }
    const hasLoginProfile = await this.hasLoginProfile(userName);
    const groups = await this.groupsOf(userName);
    const removed = [...new Set([...decodeList(tags, IAM_TAGS.removedGroups), ...groups])].sort();
    const unrecordable = removed.filter((g) => !TAG_VALUE_CHARS.test(g));
    if (unrecordable.length > 0) notes.push(`groups ${unrecordable.join(', ')} cannot be recorded in a tag value; a rehire will not rejoin them automatically`);
    const loginProfileDeleted = hasLoginProfile || tags[IAM_TAGS.loginProfileDeleted] === 'true';
    const record: Record<string, string> = {
      ...Object.assign({}, ...this.credentials.map((k) => encodeList(k.tag, deactivated[k.name] ?? []))),
      ...encodeList(IAM_TAGS.removedGroups, removed.filter((g) => TAG_VALUE_CHARS.test(g))),
      ...(loginProfileDeleted ? { [IAM_TAGS.loginProfileDeleted]: 'true' } : {}),
    };
    if (Object.entries(record).some(([k, v]) => tags[k] !== v)) {
      const after = new Set([...Object.keys(tags), ...Object.keys(record)]);
      if (after.size <= IAM_MAX_TAGS) await this.send(new TagUserCommand({ UserName: userName, Tags: toTags(record) }), `TagUser ${userName}`);
      else notes.push(`no room for the rehire record within IAM's ${IAM_MAX_TAGS} tags; it is only in this result`);
    }
    if (hasLoginProfile) await this.ignoring('NoSuchEntity', new DeleteLoginProfileCommand({ UserName: userName }), `DeleteLoginProfile ${userName}`);
    for (const [kind, ids] of active) for (const id of ids) await kind.setStatus(userName, id, 'Inactive');
    for (const GroupName of groups) {
      await this.ignoring('NoSuchEntity', new RemoveUserFromGroupCommand({ UserName: userName, GroupName }), `RemoveUserFromGroup ${userName} ${GroupName}`);
    }
    const residual = await directPolicies(this.calls, userName);
    if (tags[IAM_TAGS.status] !== 'disabled') await this.send(new TagUserCommand({ UserName: userName, Tags: toTags({ [IAM_TAGS.status]: 'disabled' }) }), `TagUser ${userName}`);
    const { accessKeys, ...rest } = deactivated;
    const others = Object.fromEntries(Object.entries(rest).filter(([, ids]) => ids.length > 0));
    return { removedGroups: removed, deactivatedAccessKeys: accessKeys ?? [], ...(Object.keys(others).length ? { deactivatedCredentials: others } : {}), loginProfileDeleted, ...(residual.length ? { residual } : {}), ...(notes.length ? { notes } : {}) };
  }

  /** Clears everything AWS requires before DeleteUser (API_DeleteUser, in its documented order), then deletes. */
  async deleteAccount(account: AccountRef): Promise<DeleteRecord> {
    const { userName } = account;
    const owned = await this.requireOwned(account).catch(goneAsNull);
    if (!owned) return { steps: ['user already gone'] };
    const steps: string[] = [];
    const u = { UserName: userName };
    if (await this.ignoring('NoSuchEntity', new DeleteLoginProfileCommand(u), `DeleteLoginProfile ${userName}`)) steps.push('DeleteLoginProfile');
    for (const kind of this.credentials) {
      const held = await kind.list(userName);
      // moto does not implement ListServiceSpecificCredentials (HTTP 500, HTML page): recorded and skipped; real AWS answers it.
      if (held === null) steps.push(`${kind.listing} not implemented by this endpoint: skipped`);
      for (const { id } of held ?? []) steps.push(await kind.remove(userName, id));
    }
    for (const d of await this.pages<ListMFADevicesCommandOutput, NonNullable<ListMFADevicesCommandOutput['MFADevices']>[number]>(
      (Marker) => new ListMFADevicesCommand({ ...u, Marker, MaxItems: this.pageSize }),
      (p) => p.MFADevices,
      'ListMFADevices',
    )) {
      await this.ignoring('NoSuchEntity', new DeactivateMFADeviceCommand({ ...u, SerialNumber: d.SerialNumber! }), 'DeactivateMFADevice');
      steps.push(`DeactivateMFADevice ${d.SerialNumber}`);
      if (d.SerialNumber!.startsWith('arn:')) {
        await this.ignoring('NoSuchEntity', new DeleteVirtualMFADeviceCommand({ SerialNumber: d.SerialNumber! }), 'DeleteVirtualMFADevice');
        steps.push(`DeleteVirtualMFADevice ${d.SerialNumber}`);
      }
    }
    for (const name of await this.pages<ListUserPoliciesCommandOutput, string>(
      (Marker) => new ListUserPoliciesCommand({ ...u, Marker, MaxItems: this.pageSize }),
      (p) => p.PolicyNames,
      'ListUserPolicies',
    )) {
      await this.ignoring('NoSuchEntity', new DeleteUserPolicyCommand({ ...u, PolicyName: name }), 'DeleteUserPolicy');
      steps.push(`DeleteUserPolicy ${name}`);
    }
    for (const pol of await this.pages<ListAttachedUserPoliciesCommandOutput, NonNullable<ListAttachedUserPoliciesCommandOutput['AttachedPolicies']>[number]>(
      (Marker) => new ListAttachedUserPoliciesCommand({ ...u, Marker, MaxItems: this.pageSize }),
      (p) => p.AttachedPolicies,
      'ListAttachedUserPolicies',
    )) {
      await this.ignoring('NoSuchEntity', new DetachUserPolicyCommand({ ...u, PolicyArn: pol.PolicyArn! }), 'DetachUserPolicy');
      steps.push(`DetachUserPolicy ${pol.PolicyArn}`);
    }
    for (const g of await this.groupsOf(userName)) {
      await this.ignoring('NoSuchEntity', new RemoveUserFromGroupCommand({ ...u, GroupName: g }), `RemoveUserFromGroup ${userName} ${g}`);
      steps.push(`RemoveUserFromGroup ${g}`);
    }
    if (await this.ignoring('NoSuchEntity', new DeleteUserCommand(u), `DeleteUser ${userName}`)) steps.push('DeleteUser');
    this.noteMarker(account.externalId, null);
    return { steps };
  }

  // ---------------------------------------------------------------- groups

  async createGroup(name: string): Promise<ActualGroup> {
    const problems = iamNameProblems('group', name, IAM_GROUP_NAME_MAX);
    if (problems.length > 0) throw invalid(`IAM group ${name}: ${problems.join('; ')}`);
    const clash = (await this.listGroups()).find((g) => iamNameKey(g.GroupName!) === iamNameKey(name));
    if (clash) {
      if (clash.GroupName !== name) {
        throw ApplicationFailure.nonRetryable(`IAM group name ${name} collides with existing group ${clash.GroupName}; IAM group names are unique regardless of case`, TARGET_FAILURE.conflict);
      }
      this.checkGroupPath(clash);
      return { id: clash.GroupId!, name, owned: true };
    }
    try {
      const created = await this.iam.send(new CreateGroupCommand({ GroupName: name, Path: this.config.path }));
      return { id: created.Group!.GroupId!, name, owned: true };
    } catch (err) {
      if (!isAws(err, 'EntityAlreadyExists')) throw classifyIamError(err, `CreateGroup ${name}`);
      const existing = await this.getGroup(name);
      if (!existing) throw ApplicationFailure.retryable(`IAM group ${name} exists (EntityAlreadyExists) but is not readable yet`, TARGET_FAILURE.notFound);
      this.checkGroupPath(existing);
      return { id: existing.GroupId!, name, owned: true };
    }
  }

  async addMember(userName: string, group: string): Promise<void> {
    await this.addMembers(group, [userName]);
  }

  async removeMember(userName: string, group: string): Promise<void> {
    await this.removeMembers(group, [userName]);
  }

  /**
   * IAM has no batch call: one AddUserToGroup per user not yet a member, after the group limit check.
   * A member in `known` is neither re-read nor re-listed: its groups and ownership come from there.
   */
  async addMembers(group: string, userNames: readonly string[], known?: KnownState): Promise<void> {
    await this.requireOwnedGroup(group, known, true);
    for (const userName of userNames) {
      await this.requireOwnedMember(userName, known, true);
      const current = known?.accounts.get(userName)?.groups ?? (await this.groupsOf(userName));
      if (current.includes(group)) continue;
      if (current.length >= IAM_MAX_GROUPS_PER_USER) {
        throw ApplicationFailure.nonRetryable(`IAM user ${userName} is already in ${current.length} groups, IAM's limit; not added to ${group}`, TARGET_FAILURE.tooManyGroups);
      }
      await this.send(new AddUserToGroupCommand({ UserName: userName, GroupName: group }), `AddUserToGroup ${userName} ${group}`);
    }
  }

  async removeMembers(group: string, userNames: readonly string[], known?: KnownState): Promise<void> {
    if (!(await this.requireOwnedGroup(group, known, false))) return;
    for (const userName of userNames) {
      if (!(await this.requireOwnedMember(userName, known, false))) continue;
      await this.ignoring('NoSuchEntity', new RemoveUserFromGroupCommand({ UserName: userName, GroupName: group }), `RemoveUserFromGroup ${userName} ${group}`);
    }
  }

  /** The user is idflow's, by `known` or read now (as SCIM's ownedUserId); false when gone and `mustExist` is off. */
  private async requireOwnedMember(userName: string, known: KnownState | undefined, mustExist: boolean): Promise<boolean> {
    const account = known?.accounts.get(userName);
    if (account && !account.owned) throw this.notOwned(userName);
    if (account) return true;
    return (await this.requireOwned({ userName }).catch(mustExist ? goneAsNotFound : goneAsNull)) !== null;
  }

  /** The group exists under idflow's path; false when it is gone and `mustExist` is off. */
  private async requireOwnedGroup(group: string, known: KnownState | undefined, mustExist: boolean): Promise<boolean> {
    if (known?.groups.get(group)?.owned) return true;
    const g = await this.getGroup(group);
    if (!g) {
      if (!mustExist) return false;
      throw ApplicationFailure.nonRetryable(`IAM group ${group} does not exist`, TARGET_FAILURE.missingGroup);
    }
    this.checkGroupPath(g);
    return true;
  }

  // ---------------------------------------------------------------- helpers

  /**
   * idflow's: under its path, with its owner tag and an identity's marker. A user with the owner tag
   * but no marker belongs to nobody idflow knows, so it is unmatched, never some person's account.
   */
  private owns(path: string | undefined, tags: Record<string, string>): boolean {
    return path === this.config.path && tags[IAM_TAGS.owner] === this.instance && Boolean(tags[IAM_TAGS.externalId]);
  }

  private marks(user: UserLike, externalId: string): boolean {
    const tags = tagMap(user.Tags);
    return this.owns(user.Path, tags) && tags[IAM_TAGS.externalId] === externalId;
  }

  private toActual(user: UserLike, groups: string[]): ActualAccount {
    const tags = tagMap(user.Tags);
    return {
      id: user.UserId!,
      userName: user.UserName!,
      externalId: tags[IAM_TAGS.externalId] ?? null,
      employeeId: tags[IAM_TAGS.employeeId] ?? null,
      enabled: tags[IAM_TAGS.status] !== 'disabled',
      attributes: Object.fromEntries(Object.entries(tags).filter(([k]) => !k.startsWith(IAM_RESERVED_TAG_PREFIX))),
      groups: [...groups].sort(),
      owned: this.owns(user.Path, tags),
    };
  }

  private checkGroupPath(group: Group): void {
    if (group.Path !== this.config.path) {
      throw ApplicationFailure.nonRetryable(`IAM group ${group.GroupName} exists under path ${group.Path}, not idflow's ${this.config.path}; idflow does not own it and will not change it`, TARGET_FAILURE.notOwned);
    }
  }

  private async getUser(userName: string): Promise<User | null> {
    try {
      return (await this.iam.send(new GetUserCommand({ UserName: userName }))).User ?? null;
    } catch (err) {
      if (isAws(err, 'NoSuchEntity')) return null;
      throw classifyIamError(err, `GetUser ${userName}`);
    }
  }

  private async getGroup(name: string): Promise<Group | null> {
    try {
      return ((await this.iam.send(new GetGroupCommand({ GroupName: name, MaxItems: 1 }))) as GetGroupCommandOutput).Group ?? null;
    } catch (err) {
      if (isAws(err, 'NoSuchEntity')) return null;
      throw classifyIamError(err, `GetGroup ${name}`);
    }
  }

  /**
   * Every write first proves the user is idflow's, and, for a write on a person's behalf, theirs:
   * ownership and the marker are checked at the point of change.
   */
  private async requireOwned(account: { userName: string; externalId?: string }): Promise<{ user: User; tags: Record<string, string> }> {
    const { userName } = account;
    const user = await this.getUser(userName);
    if (!user) throw new AccountGoneError('IAM', userName);
    const tags = tagMap(user.Tags);
    if (!this.owns(user.Path, tags)) throw this.notOwned(userName);
    if (account.externalId !== undefined && tags[IAM_TAGS.externalId] !== account.externalId) {
      throw ApplicationFailure.nonRetryable(`IAM user ${userName} belongs to identity ${tags[IAM_TAGS.externalId]}, not ${account.externalId}; refusing to modify it`, TARGET_FAILURE.conflict);
    }
    return { user, tags };
  }

  private notOwned(userName: string): ApplicationFailure {
    return ApplicationFailure.nonRetryable(`IAM user ${userName} is not owned by idflow instance "${this.instance}"; refusing to modify it`, TARGET_FAILURE.notOwned);
  }

  private async hasLoginProfile(userName: string): Promise<boolean> {
    try {
      await this.iam.send(new GetLoginProfileCommand({ UserName: userName }));
      return true;
    } catch (err) {
      if (isAws(err, 'NoSuchEntity')) return false;
      throw classifyIamError(err, `GetLoginProfile ${userName}`);
    }
  }

  /**
   * An existing user whose name equals this one regardless of case. Real IAM refuses such a create
   * itself; moto does not, so idflow looks first. The look-up uses an index of all user names, read
   * once (paged) and kept for a minute, so a bulk create costs O(pages), not O(users) per user.
   */
  private async findUserIgnoringCase(userName: string): Promise<User | null> {
    const index = await this.userNameIndex();
    const found = index.get(iamNameKey(userName));
    if (!found) return null;
    const user = await this.getUser(found);
    if (!user) index.delete(iamNameKey(userName));
    return user;
  }

  private nameIndex: { names: Promise<Map<string, string>>; expires: number } | null = null;

  private userNameIndex(): Promise<Map<string, string>> {
    if (this.nameIndex && this.nameIndex.expires > Date.now()) return this.nameIndex.names;
    const names = this.pages<ListUsersCommandOutput, User>((Marker) => new ListUsersCommand({ Marker, MaxItems: this.pageSize }), (p) => p.Users, 'ListUsers').then(
      (users) => new Map(users.map((u) => [iamNameKey(u.UserName!), u.UserName!])),
    );
    this.nameIndex = { names, expires: Date.now() + NAME_INDEX_TTL_MS };
    names.catch(() => (this.nameIndex = null));
    return names;
  }

  private async groupsOf(userName: string): Promise<string[]> {
    const groups = await this.pages<ListGroupsForUserCommandOutput, Group>(
      (Marker) => new ListGroupsForUserCommand({ UserName: userName, Marker, MaxItems: this.pageSize }),
      (p) => p.Groups,
      `ListGroupsForUser ${userName}`,
    );
    return groups.map((g) => g.GroupName!).sort();
  }

  private async listGroups(PathPrefix?: string): Promise<Group[]> {
    return this.pages<ListGroupsCommandOutput, Group>((Marker) => new ListGroupsCommand({ PathPrefix, Marker, MaxItems: this.pageSize }), (p) => p.Groups, 'ListGroups');
  }

  private async listAccessKeys(userName: string) {
    return this.pages<ListAccessKeysCommandOutput, NonNullable<ListAccessKeysCommandOutput['AccessKeyMetadata']>[number]>(
      (Marker) => new ListAccessKeysCommand({ UserName: userName, Marker, MaxItems: this.pageSize }),
      (p) => p.AccessKeyMetadata,
      `ListAccessKeys ${userName}`,
    );
  }

  /** The Marker loop: IAM may return fewer than MaxItems with more to come, so only IsTruncated counts. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private async pages<P extends { IsTruncated?: boolean; Marker?: string }, T>(command: (marker: string | undefined) => any, items: (page: P) => T[] | undefined, what: string): Promise<T[]> {
    const all: T[] = [];
    let marker: string | undefined;
    do {
      const page = await this.send<P>(command(marker), what);
      all.push(...(items(page) ?? []));
      marker = nextMarker(page);
    } while (marker);
    return all;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private async send<T>(command: any, what: string): Promise<T> {
    try {
      return (await this.iam.send(command)) as T;
    } catch (err) {
      throw classifyIamError(err, what);
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
      throw classifyIamError(err, what);
    }
  }
}

function nextMarker(page: { IsTruncated?: boolean; Marker?: string }): string | undefined {
  if (!page.IsTruncated) return undefined;
  if (!page.Marker) throw ApplicationFailure.retryable('IAM answered IsTruncated without a Marker', 'IAM.badPage');
  return page.Marker;
}

function isAws(err: unknown, code: string): boolean {
  const name = (err as { name?: string })?.name ?? '';
  return name === code || name === `${code}Exception`;
}

function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, TARGET_FAILURE.invalidInput);
}

function iamNameProblems(kind: 'user' | 'group', name: string, max: number): string[] {
  const problems: string[] = [];
  if (name.length === 0 || name.length > max) problems.push(`an IAM ${kind} name must be 1-${max} characters (it has ${name.length})`);
  if (!NAME_CHARS.test(name)) problems.push(`an IAM ${kind} name may only contain letters, digits and + = , . @ _ -`);
  return problems;
}

function reservedKeys(keys: readonly string[]): string[] {
  return keys.filter((k) => k.startsWith(IAM_RESERVED_TAG_PREFIX)).map((k) => `tag key "${k}" uses idflow's reserved prefix ${IAM_RESERVED_TAG_PREFIX}`);
}

