import { generateKeyPairSync } from 'node:crypto';
import {
  AddUserToGroupCommand,
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreateGroupCommand,
  CreateLoginProfileCommand,
  CreatePolicyCommand,
  CreateServiceSpecificCredentialCommand,
  CreateUserCommand,
  CreateVirtualMFADeviceCommand,
  EnableMFADeviceCommand,
  GetUserCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListGroupsForUserCommand,
  ListServiceSpecificCredentialsCommand,
  ListSigningCertificatesCommand,
  ListSSHPublicKeysCommand,
  ListUsersCommand,
  ListVirtualMFADevicesCommand,
  PutUserPolicyCommand,
  UploadSigningCertificateCommand,
  UploadSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';
import forge from 'node-forge';
import { classifyIamError, createIamClient, type IamRetryOptions } from '../../targets/aws-iam/client';
import { IamConnector } from '../../targets/aws-iam/connector';
import { IAM_TAGS } from '../../targets/aws-iam/tags';
import type { CreateAccountInput } from '../../targets/connector';
import { toIamName } from '../../targets/aws-iam/names';
import { failure, forceIamPages, type IamCall, iamAction, iamEndpoint, iamErrorXml, iamTargetConfig, recordIam, resetMoto, startProxy, TEST_CREDENTIALS } from './support';

/** AWS IAM specifics beyond the shared contract: DeleteUser preconditions, paging, retries, limits, names. */

const GROUP_MAP = { Engineering: 'idflow-eng', Sales: 'idflow-sales' };
const ATTRS = ['Department', 'JobTitle', 'DisplayName'];

function connect(opts: { endpoint?: string; pageSize?: number; retry?: IamRetryOptions; instance?: string } = {}) {
  const endpoint = opts.endpoint ?? iamEndpoint();
  const client = createIamClient({ region: 'us-east-1', endpoint }, { credentials: TEST_CREDENTIALS, retry: opts.retry ?? { maxAttempts: 3, baseDelayMs: 5, throttlingBaseDelayMs: 20 } });
  const calls = recordIam(client);
  if (opts.pageSize) forceIamPages(client, opts.pageSize);
  const connector = new IamConnector('aws', iamTargetConfig(endpoint, GROUP_MAP, ATTRS), opts.instance ?? 'idflow', client, { pageSize: opts.pageSize ?? 1000 });
  return { connector, calls, client };
}

const raw = () => createIamClient({ region: 'us-east-1', endpoint: iamEndpoint() }, { credentials: TEST_CREDENTIALS, retry: { maxAttempts: 1 } });

/** A write's address: the account made by account(userName) below. */
const ref = (userName: string) => ({ userName, externalId: `src-${userName}` });

const account = (userName: string, extra: Partial<CreateAccountInput> = {}): CreateAccountInput => ({
  userName,
  externalId: `src-${userName}`,
  employeeId: `E-${userName}`,
  enabled: true,
  attributes: { Department: 'Engineering' },
  ...extra,
});

const commands = (calls: IamCall[]) => calls.map((c) => c.command);

function selfSignedCert(): string {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date();
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: 'commonName', value: 'idflow-test' }]);
  cert.setIssuer([{ name: 'commonName', value: 'idflow-test' }]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()), forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

beforeEach(resetMoto);

describe('DeleteUser preconditions (moto does not enforce them; real IAM does)', () => {
  test('a user with every kind of attachment is cleared with the full call list, in order, before DeleteUser', async () => {
    const { connector, calls } = connect();
    await connector.createGroup('idflow-eng');
    await connector.createAccount(account('del.me'));
    await connector.addMember('del.me', 'idflow-eng');
    const c = raw();
    const u = { UserName: 'del.me' };
    await c.send(new CreateLoginProfileCommand({ ...u, Password: 'Initial-Passw0rd!' }));
    const k1 = (await c.send(new CreateAccessKeyCommand(u))).AccessKey!.AccessKeyId!;
    const k2 = (await c.send(new CreateAccessKeyCommand(u))).AccessKey!.AccessKeyId!;
    const ssh = (await c.send(new UploadSSHPublicKeyCommand({ ...u, SSHPublicKeyBody: 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 test@idflow' }))).SSHPublicKey!.SSHPublicKeyId!;
    const cert = (await c.send(new UploadSigningCertificateCommand({ ...u, CertificateBody: selfSignedCert() }))).Certificate!.CertificateId!;
    const git = (await c.send(new CreateServiceSpecificCredentialCommand({ ...u, ServiceName: 'codecommit.amazonaws.com' }))).ServiceSpecificCredential!.ServiceSpecificCredentialId!;
    await c.send(new PutUserPolicyCommand({ ...u, PolicyName: 'inline-s3', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:ListBucket', Resource: '*' }] }) }));
    const policyArn = (await c.send(new CreatePolicyCommand({ PolicyName: 'customer-managed', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ec2:Describe*', Resource: '*' }] }) }))).Policy!.Arn!;
    await c.send(new AttachUserPolicyCommand({ ...u, PolicyArn: policyArn }));
    const mfa = (await c.send(new CreateVirtualMFADeviceCommand({ VirtualMFADeviceName: 'del.me-mfa' }))).VirtualMFADevice!.SerialNumber!;
    await c.send(new EnableMFADeviceCommand({ ...u, SerialNumber: mfa, AuthenticationCode1: '123456', AuthenticationCode2: '654321' }));

    calls.length = 0;
    const record = await connector.deleteAccount(ref('del.me'));

    expect(commands(calls)).toEqual([
      'GetUser', // ownership, at the point of change
      'DeleteLoginProfile',
      'ListAccessKeys',
      'DeleteAccessKey',
      'DeleteAccessKey',
      'ListSSHPublicKeys',
      'DeleteSSHPublicKey',
      'ListSigningCertificates',
      'DeleteSigningCertificate',
      'ListServiceSpecificCredentials',
      'DeleteServiceSpecificCredential',
      'ListMFADevices',
      'DeactivateMFADevice',
      'DeleteVirtualMFADevice',
      'ListUserPolicies',
      'DeleteUserPolicy',
      'ListAttachedUserPolicies',
      'DetachUserPolicy',
      'ListGroupsForUser',
      'RemoveUserFromGroup',
      'DeleteUser',
    ]);
    expect(calls.find((x) => x.command === 'DeleteVirtualMFADevice')!.input).toEqual({ SerialNumber: mfa });
    expect(record.steps).toEqual([
      'DeleteLoginProfile',
      ...[k1, k2].map((k) => `DeleteAccessKey ${k}`),
      `DeleteSSHPublicKey ${ssh}`,
      `DeleteSigningCertificate ${cert}`,
      `DeleteServiceSpecificCredential ${git}`,
      `DeactivateMFADevice ${mfa}`,
      `DeleteVirtualMFADevice ${mfa}`,
      'DeleteUserPolicy inline-s3',
      `DetachUserPolicy ${policyArn}`,
      'RemoveUserFromGroup idflow-eng',
      'DeleteUser',
    ]);
    expect((await c.send(new ListVirtualMFADevicesCommand({}))).VirtualMFADevices ?? []).toEqual([]);
    await expect(c.send(new GetUserCommand(u))).rejects.toMatchObject({ name: 'NoSuchEntityException' });
  });
});

describe('disable means no access', () => {
  test('every credential is set Inactive and recorded, directly attached policies are reported as residual, and a re-enable restores the credentials', async () => {
    const { connector } = connect();
    await connector.createGroup('idflow-eng');
    await connector.createAccount(account('leaving'));
    await connector.addMember('leaving', 'idflow-eng');
    const c = raw();
    const u = { UserName: 'leaving' };
    await c.send(new CreateLoginProfileCommand({ ...u, Password: 'Initial-Passw0rd!' }));
    const key = (await c.send(new CreateAccessKeyCommand(u))).AccessKey!.AccessKeyId!;
    const ssh = (await c.send(new UploadSSHPublicKeyCommand({ ...u, SSHPublicKeyBody: 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 codecommit@idflow' }))).SSHPublicKey!.SSHPublicKeyId!;
    const cert = (await c.send(new UploadSigningCertificateCommand({ ...u, CertificateBody: selfSignedCert() }))).Certificate!.CertificateId!;
    const git = (await c.send(new CreateServiceSpecificCredentialCommand({ ...u, ServiceName: 'codecommit.amazonaws.com' }))).ServiceSpecificCredential!.ServiceSpecificCredentialId!;
    const policyArn = (await c.send(new CreatePolicyCommand({ PolicyName: 'codecommit-push', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'codecommit:GitPush', Resource: '*' }] }) }))).Policy!.Arn!;
    await c.send(new AttachUserPolicyCommand({ ...u, PolicyArn: policyArn }));
    await c.send(new PutUserPolicyCommand({ ...u, PolicyName: 'inline-s3', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:ListBucket', Resource: '*' }] }) }));
    const statuses = async () => ({
      keys: ((await c.send(new ListAccessKeysCommand(u))).AccessKeyMetadata ?? []).map((k) => k.Status),
      ssh: ((await c.send(new ListSSHPublicKeysCommand(u))).SSHPublicKeys ?? []).map((k) => k.Status),
      certs: ((await c.send(new ListSigningCertificatesCommand(u))).Certificates ?? []).map((k) => k.Status),
      service: ((await c.send(new ListServiceSpecificCredentialsCommand(u))).ServiceSpecificCredentials ?? []).map((k) => k.Status),
      groups: ((await c.send(new ListGroupsForUserCommand(u))).Groups ?? []).map((g) => g.GroupName),
    });

    const record = await connector.disableAccount(ref('leaving'));
    expect(await statuses()).toEqual({ keys: ['Inactive'], ssh: ['Inactive'], certs: ['Inactive'], service: ['Inactive'], groups: [] });
    expect(record).toMatchObject({ deactivatedAccessKeys: [key], deactivatedCredentials: { sshPublicKeys: [ssh], signingCertificates: [cert], serviceSpecificCredentials: [git] }, loginProfileDeleted: true, removedGroups: ['idflow-eng'] });
    expect(record.residual).toEqual([`managed policy ${policyArn} attached to the user directly`, 'inline policy inline-s3']);
    // A second disable (a retry) finds nothing left to do and keeps the record.
    expect(await connector.disableAccount(ref('leaving'))).toMatchObject({ deactivatedCredentials: { sshPublicKeys: [ssh], signingCertificates: [cert], serviceSpecificCredentials: [git] } });

    await connector.enableAccount(ref('leaving'));
    expect(await statuses()).toMatchObject({ keys: ['Active'], ssh: ['Active'], certs: ['Active'], service: ['Active'] });
    const tags = ((await c.send(new GetUserCommand(u))).User!.Tags ?? []).map((t) => t.Key!);
    expect(tags.filter((k) => k.startsWith('idflow:deactivated'))).toEqual([]);
  });
});

describe('paging: every list call follows Marker/IsTruncated (moto returns one page; a middleware cuts it)', () => {
  test('findAccount, existingGroups, readState, the case check on create and disable read every page', async () => {
    const setup = connect();
    for (const g of ['idflow-eng', 'idflow-sales', 'idflow-ops']) await setup.connector.createGroup(g);
    for (const n of ['a1', 'a2', 'a3']) await setup.connector.createAccount(account(n));
    for (const g of ['idflow-eng', 'idflow-sales', 'idflow-ops']) await setup.connector.addMember('a1', g);
    const c = raw();
    await c.send(new CreateAccessKeyCommand({ UserName: 'a1' }));
    await c.send(new CreateAccessKeyCommand({ UserName: 'a1' }));

    const { connector, calls } = connect({ pageSize: 1 });
    expect((await connector.findAccount('a1'))!.groups).toEqual(['idflow-eng', 'idflow-ops', 'idflow-sales']);
    expect(calls.filter((x) => x.command === 'ListGroupsForUser').map((x) => x.input.Marker ?? null)).toEqual([null, 'page:1', 'page:2']);

    expect(await connector.existingGroups(['idflow-eng', 'idflow-ops', 'idflow-sales', 'idflow-none'])).toEqual(new Set(['idflow-eng', 'idflow-ops', 'idflow-sales']));
    expect(calls.filter((x) => x.command === 'ListGroups')).toHaveLength(3);

    const state = await connector.readState();
    expect(state.accounts.map((a) => a.userName)).toEqual(['a1', 'a2', 'a3']);
    expect(state.groups.map((g) => g.name)).toEqual(['idflow-eng', 'idflow-ops', 'idflow-sales']);
    expect(state.calls).toBe(6); // 3 users + 3 groups, one per page
    expect(calls.filter((x) => x.command === 'GetAccountAuthorizationDetails').map((x) => x.input.Marker ?? null)).toEqual([null, 'page:1', 'page:2', 'page:3', 'page:4', 'page:5']);

    // The case-insensitive name check reads all users, page by page, and finds one on the last page.
    await raw().send(new CreateUserCommand({ UserName: 'Zed', Path: '/elsewhere/' }));
    calls.length = 0;
    expect(await failure(connector.createAccount(account('zed')))).toMatchObject({ type: 'Target.notOwned', nonRetryable: true });
    expect(calls.filter((x) => x.command === 'ListUsers')).toHaveLength(4);
    expect(commands(calls)).not.toContain('CreateUser');

    const record = await connector.disableAccount(ref('a1'));
    expect(record.deactivatedAccessKeys).toHaveLength(2);
    expect(record.removedGroups).toEqual(['idflow-eng', 'idflow-ops', 'idflow-sales']);
  });
});

describe('read cost', () => {
  test('reading the state of 30 users costs pages, not users', async () => {
    const setup = connect();
    for (const g of ['idflow-eng', 'idflow-sales']) await setup.connector.createGroup(g);
    for (let i = 0; i < 30; i++) {
      await setup.connector.createAccount(account(`user${String(i).padStart(2, '0')}`));
      await setup.connector.addMember(`user${String(i).padStart(2, '0')}`, i % 2 ? 'idflow-eng' : 'idflow-sales');
    }
    await raw().send(new CreateUserCommand({ UserName: 'someone-else', Path: '/idflow/' }));

    const big = connect();
    const all = await big.connector.readState();
    expect(all.accounts).toHaveLength(30);
    expect(all.unownedCount).toBe(1);
    expect(all.accounts.every((a) => a.groups.length === 1)).toBe(true);
    expect(commands(big.calls)).toEqual(['GetAccountAuthorizationDetails']);

    const small = connect({ pageSize: 10 });
    const paged = await small.connector.readState();
    expect(paged.accounts).toEqual(all.accounts);
    const pages = Math.ceil((31 + 2) / 10);
    expect(commands(small.calls)).toEqual(Array(pages).fill('GetAccountAuthorizationDetails'));
    expect(small.calls.length).toBeLessThanOrEqual(pages + 2);

    // For contrast: reading the same accounts one by one costs two calls each.
    const oneByOne = connect();
    for (const a of all.accounts) await oneByOne.connector.findAccount(a.userName);
    expect(oneByOne.calls).toHaveLength(60);
  });
});

describe('an account with the owner tag but no identity marker', () => {
  const unstamped = async (userName: string) => {
    await raw().send(new CreateUserCommand({ UserName: userName, Path: '/idflow/', Tags: [{ Key: IAM_TAGS.owner, Value: 'idflow' }] }));
    await raw().send(new CreateAccessKeyCommand({ UserName: userName }));
  };

  test('is nobody idflow knows: a joiner of that name is refused under unmatched: report', async () => {
    await unstamped('stray');
    const { connector } = connect();
    expect(await connector.findAccount('stray')).toMatchObject({ owned: false, externalId: null });
    expect((await connector.readState()).accounts.map((a) => a.userName)).not.toContain('stray');
    expect(await failure(connector.createAccount(account('stray')))).toMatchObject({ type: 'Target.notOwned', nonRetryable: true });
    expect(await failure(connector.disableAccount(ref('stray')))).toMatchObject({ type: 'Target.notOwned' });
    const { AccessKeyMetadata } = await raw().send(new ListAccessKeysCommand({ UserName: 'stray' }));
    expect(AccessKeyMetadata!.map((k) => k.Status)).toEqual(['Active']);
  });

  test('under unmatched: adopt is stamped, and keys made before idflow knew it are deactivated, not recorded', async () => {
    await unstamped('stray');
    const { connector } = connect();
    expect(await connector.createAccount(account('stray', { adopt: true }))).toMatchObject({ owned: true, externalId: 'src-stray' });
    const { AccessKeyMetadata } = await raw().send(new ListAccessKeysCommand({ UserName: 'stray' }));
    expect(AccessKeyMetadata!.map((k) => k.Status)).toEqual(['Inactive']);
    // A later rehire must not bring back a key idflow never issued or recorded.
    await connector.disableAccount(ref('stray'));
    await connector.enableAccount(ref('stray'));
    const after = await raw().send(new ListAccessKeysCommand({ UserName: 'stray' }));
    expect(after.AccessKeyMetadata!.map((k) => k.Status)).toEqual(['Inactive']);
  });
});

describe('retries', () => {
  test('Throttling (HTTP 400) is retried with backoff, then succeeds', async () => {
    await raw().send(new CreateUserCommand({ UserName: 'slow', Path: '/idflow/', Tags: [{ Key: IAM_TAGS.owner, Value: 'idflow' }, { Key: IAM_TAGS.externalId, Value: 'src-slow' }] }));
    const proxy = await startProxy(iamEndpoint(), (req, i) => (i < 2 ? { status: 400, body: iamErrorXml('Throttling', 'Rate exceeded') } : undefined));
    try {
      const { connector, calls } = connect({ endpoint: proxy.url, retry: { maxAttempts: 4, throttlingBaseDelayMs: 100 } });
      const started = Date.now();
      const found = await connector.findAccount('slow');
      const elapsed = Date.now() - started;
      expect(found).toMatchObject({ userName: 'slow', owned: true });
      expect(proxy.requests.map(iamAction)).toEqual(['GetUser', 'GetUser', 'GetUser', 'ListGroupsForUser']);
      expect(commands(calls)).toEqual(['GetUser', 'ListGroupsForUser']);
      // Backoff: at least half of 100 ms, then half of 200 ms (the jitter never goes below half).
      expect(elapsed).toBeGreaterThanOrEqual(150);
    } finally {
      await proxy.close();
    }
  });

  test('persistent throttling gives up after maxAttempts with a retryable failure for Temporal', async () => {
    const proxy = await startProxy(iamEndpoint(), () => ({ status: 400, body: iamErrorXml('Throttling', 'Rate exceeded') }));
    try {
      const { connector } = connect({ endpoint: proxy.url, retry: { maxAttempts: 3, throttlingBaseDelayMs: 10 } });
      const f = await failure(connector.findAccount('anyone'));
      expect(f).toMatchObject({ type: 'IAM.Throttling', nonRetryable: false });
      expect(proxy.requests).toHaveLength(3);
    } finally {
      await proxy.close();
    }
  });

  test('LimitExceeded (a third access key) fails at once, not retried as the SDK would', async () => {
    await raw().send(new CreateUserCommand({ UserName: 'keys' }));
    const { client } = connect({ retry: { maxAttempts: 5 } });
    await client.send(new CreateAccessKeyCommand({ UserName: 'keys' }));
    await client.send(new CreateAccessKeyCommand({ UserName: 'keys' }));
    const started = Date.now();
    const err = await client.send(new CreateAccessKeyCommand({ UserName: 'keys' })).then(() => null, (e: { name: string; $metadata: { attempts: number } }) => e);
    expect(Date.now() - started).toBeLessThan(500);
    expect(err).toMatchObject({ name: 'LimitExceededException', $metadata: { attempts: 1 } });
    expect(classifyIamError(err, 'CreateAccessKey')).toMatchObject({ type: 'IAM.LimitExceeded', nonRetryable: true });

    // The SDK's own standard retry (for contrast) treats it as throttling and tries three times.
    const plain = new IAMClient({ region: 'us-east-1', endpoint: iamEndpoint(), credentials: TEST_CREDENTIALS });
    const sdk = await plain.send(new CreateAccessKeyCommand({ UserName: 'keys' })).then(() => null, (e: { $metadata: { attempts: number } }) => e);
    expect(sdk!.$metadata.attempts).toBe(3);
  });

  test('LimitExceeded from a connector write is one attempt and a non-retryable failure', async () => {
    const setup = connect();
    await setup.connector.createGroup('idflow-eng');
    await setup.connector.createAccount(account('quota'));
    const proxy = await startProxy(iamEndpoint(), (req) => (iamAction(req) === 'AddUserToGroup' ? { status: 409, body: iamErrorXml('LimitExceeded', 'Cannot exceed quota for GroupsPerUser: 10') } : undefined));
    try {
      const { connector } = connect({ endpoint: proxy.url, retry: { maxAttempts: 5 } });
      const f = await failure(connector.addMember('quota', 'idflow-eng'));
      expect(f).toMatchObject({ type: 'IAM.LimitExceeded', nonRetryable: true });
      expect(proxy.requests.map(iamAction).filter((a) => a === 'AddUserToGroup')).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });
});

describe('names', () => {
  test('unicode and 80-character names become legal, distinct IAM names and are created', async () => {
    const { connector } = connect();
    const names = [
      toIamName('Zoë Ångström-Łukasiewicz'),
      toIamName(`${'a'.repeat(70)}.long.one`), // 80 characters
      toIamName(`${'a'.repeat(70)}.long.two`),
      toIamName('José Álvarez (contractor)'),
    ];
    expect(names[0]).toBe('Zoe-Angstrom-Lukasiewicz');
    expect(new Set(names).size).toBe(4);
    for (const n of names) {
      expect(n.length).toBeLessThanOrEqual(64);
      expect(n).toMatch(/^[\w+=,.@-]+$/);
      expect((await connector.createAccount(account(n))).userName).toBe(n);
    }
    expect((await connector.readState()).accounts.map((a) => a.userName).sort()).toEqual([...names].sort());
  });

  test('an illegal name is refused before any call', async () => {
    const { connector, calls } = connect();
    for (const bad of ['x'.repeat(65), 'bad name!', 'Zoë']) {
      expect(await failure(connector.createAccount(account(bad)))).toMatchObject({ type: 'Target.invalidInput', nonRetryable: true });
    }
    expect(calls).toEqual([]);
  });

  test("a name differing only in case from another identity's account is a conflict", async () => {
    const { connector, calls } = connect();
    await connector.createAccount(account('Kim'));
    calls.length = 0;
    const f = await failure(connector.createAccount(account('kim')));
    expect(f).toMatchObject({ type: 'Target.conflict', nonRetryable: true });
    expect(f.message).toContain('unique regardless of case');
    expect(commands(calls)).not.toContain('CreateUser');
    const users = (await raw().send(new ListUsersCommand({}))).Users!.map((u) => u.UserName);
    expect(users).toEqual(['Kim']);
  });
});

describe('tags', () => {
  test('over 50 tags, an over-long value or a reserved key is refused before any call', async () => {
    const { connector, calls } = connect();
    const many = Object.fromEntries(Array.from({ length: 47 }, (_, i) => [`Attr${i}`, 'x'])); // + 4 ownership tags = 51
    for (const attributes of [many, { Department: 'x'.repeat(257) }, { 'idflow:owner': 'me' }, { 'Bad,Key': 'x' }]) {
      expect(await failure(connector.createAccount(account('tagged', { attributes })))).toMatchObject({ type: 'Target.invalidInput', nonRetryable: true });
    }
    expect(calls).toEqual([]);
  });

  test('an update that would exceed 50 tags is refused without writing', async () => {
    const { connector, calls } = connect();
    await connector.createAccount(account('tagged', { attributes: Object.fromEntries(Array.from({ length: 45 }, (_, i) => [`Attr${i}`, 'x'])) }));
    calls.length = 0;
    const changes = Array.from({ length: 2 }, (_, i) => ({ attribute: `More${i}`, from: null, to: 'y' }));
    expect(await failure(connector.updateAccount(ref('tagged'), changes))).toMatchObject({ type: 'Target.invalidInput' });
    expect(commands(calls)).toEqual(['GetUser']);
  });

  test('the owner tag carries the instance: another instance does not own the account', async () => {
    await connect().connector.createAccount(account('mine'));
    const other = connect({ instance: 'other' });
    expect(await other.connector.findAccount('mine')).toMatchObject({ owned: false });
    expect(await failure(other.connector.disableAccount(ref('mine')))).toMatchObject({ type: 'Target.notOwned' });
  });
});

describe('groups', () => {
  test('a group outside the path is not idflow\'s: not reported as existing, not created over, not joined', async () => {
    await raw().send(new CreateGroupCommand({ GroupName: 'idflow-eng', Path: '/' }));
    const { connector } = connect();
    await connector.createAccount(account('g.user'));
    expect(await connector.existingGroups(['idflow-eng'])).toEqual(new Set());
    expect(await failure(connector.createGroup('idflow-eng'))).toMatchObject({ type: 'Target.notOwned', nonRetryable: true });
    expect(await failure(connector.addMember('g.user', 'idflow-eng'))).toMatchObject({ type: 'Target.notOwned', nonRetryable: true });
    expect(await failure(connector.createGroup('IDFLOW-ENG'))).toMatchObject({ type: 'Target.conflict' });
    const state = await connector.readState();
    expect(state.groups).toEqual([expect.objectContaining({ name: 'idflow-eng', owned: false })]);
  });

  test('a user already in 10 groups is not added to an 11th (moto would allow it; IAM would not)', async () => {
    const { connector, calls } = connect();
    await connector.createAccount(account('busy'));
    const c = raw();
    for (let i = 0; i < 10; i++) {
      await c.send(new CreateGroupCommand({ GroupName: `other-${i}` }));
      await c.send(new AddUserToGroupCommand({ UserName: 'busy', GroupName: `other-${i}` }));
    }
    await connector.createGroup('idflow-eng');
    calls.length = 0;
    expect(await failure(connector.addMember('busy', 'idflow-eng'))).toMatchObject({ type: 'Target.tooManyGroups', nonRetryable: true });
    expect(commands(calls)).not.toContain('AddUserToGroup');
  });
});

describe('disable and enable', () => {
  test('a disable interrupted half-way loses nothing: the retry finishes and enable restores keys and unmanaged groups', async () => {
    const setup = connect();
    await setup.connector.createGroup('idflow-eng');
    await setup.connector.createAccount(account('leaver'));
    await setup.connector.addMember('leaver', 'idflow-eng');
    const c = raw();
    await c.send(new CreateGroupCommand({ GroupName: 'hand-made-team' }));
    await c.send(new AddUserToGroupCommand({ UserName: 'leaver', GroupName: 'hand-made-team' }));
    await c.send(new CreateLoginProfileCommand({ UserName: 'leaver', Password: 'Initial-Passw0rd!' }));
    const keys = [(await c.send(new CreateAccessKeyCommand({ UserName: 'leaver' }))).AccessKey!.AccessKeyId!, (await c.send(new CreateAccessKeyCommand({ UserName: 'leaver' }))).AccessKey!.AccessKeyId!].sort();

    // The worker dies right after the first key is deactivated.
    const { connector, client } = connect();
    let updates = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UpdateAccessKeyCommand' && ++updates === 2) throw Object.assign(new Error('worker crashed'), { name: 'TimeoutError' });
        return next(args);
      },
      { step: 'initialize', name: 'crash' },
    );
    expect(await failure(connector.disableAccount(ref('leaver')))).toMatchObject({ nonRetryable: false });
    // Not yet marked disabled, so the plan will disable again.
    expect(await connector.findAccount('leaver')).toMatchObject({ enabled: true });

    const record = await connector.disableAccount(ref('leaver'));
    expect(record).toEqual({ deactivatedAccessKeys: keys, removedGroups: ['hand-made-team', 'idflow-eng'], loginProfileDeleted: true });
    const keyStatus = async () => ((await c.send(new ListAccessKeysCommand({ UserName: 'leaver' }))).AccessKeyMetadata ?? []).map((k) => k.Status);
    expect(await keyStatus()).toEqual(['Inactive', 'Inactive']);
    expect(await connector.findAccount('leaver')).toMatchObject({ enabled: false, groups: [] });

    await connector.enableAccount(ref('leaver'));
    expect(await keyStatus()).toEqual(['Active', 'Active']);
    // Unmanaged groups come back here; managed ones only if the plan still maps them.
    expect(((await c.send(new ListGroupsForUserCommand({ UserName: 'leaver' }))).Groups ?? []).map((g) => g.GroupName)).toEqual(['hand-made-team']);
    const tags = Object.fromEntries(((await c.send(new GetUserCommand({ UserName: 'leaver' }))).User!.Tags ?? []).map((t) => [t.Key, t.Value]));
    expect(tags[IAM_TAGS.status]).toBe('enabled');
    expect(Object.keys(tags).filter((k) => k.startsWith(IAM_TAGS.deactivatedKeys) || k.startsWith(IAM_TAGS.removedGroups))).toEqual([]);
  });

  test('a group the policy does not let idflow rejoin stays recorded for an administrator; enable still succeeds', async () => {
    const setup = connect();
    await setup.connector.createAccount(account('rehire'));
    const c = raw();
    await c.send(new CreateGroupCommand({ GroupName: 'admins-by-hand' }));
    await c.send(new CreateGroupCommand({ GroupName: 'team-by-hand' }));
    await c.send(new AddUserToGroupCommand({ UserName: 'rehire', GroupName: 'admins-by-hand' }));
    await c.send(new AddUserToGroupCommand({ UserName: 'rehire', GroupName: 'team-by-hand' }));
    await setup.connector.disableAccount(ref('rehire'));

    const proxy = await startProxy(iamEndpoint(), (req) =>
      iamAction(req) === 'AddUserToGroup' && new URLSearchParams(req.body).get('GroupName') === 'admins-by-hand'
        ? { status: 403, body: iamErrorXml('AccessDenied', 'not authorized to perform: iam:AddUserToGroup') }
        : undefined,
    );
    try {
      await connect({ endpoint: proxy.url }).connector.enableAccount(ref('rehire'));
    } finally {
      await proxy.close();
    }
    const tags = Object.fromEntries(((await c.send(new GetUserCommand({ UserName: 'rehire' }))).User!.Tags ?? []).map((t) => [t.Key, t.Value]));
    expect(tags[IAM_TAGS.status]).toBe('enabled');
    expect(tags[IAM_TAGS.removedGroups]).toBe('admins-by-hand');
    expect(((await c.send(new ListGroupsForUserCommand({ UserName: 'rehire' }))).Groups ?? []).map((g) => g.GroupName)).toEqual(['team-by-hand']);
  });
});
