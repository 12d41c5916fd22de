import {
  type IAMClient,
  ListAccessKeysCommand,
  type ListAccessKeysCommandOutput,
  ListAttachedUserPoliciesCommand,
  type ListAttachedUserPoliciesCommandOutput,
  ListServiceSpecificCredentialsCommand,
  type ListServiceSpecificCredentialsCommandOutput,
  ListSigningCertificatesCommand,
  type ListSigningCertificatesCommandOutput,
  ListSSHPublicKeysCommand,
  type ListSSHPublicKeysCommandOutput,
  ListUserPoliciesCommand,
  type ListUserPoliciesCommandOutput,
  DeleteAccessKeyCommand,
  DeleteServiceSpecificCredentialCommand,
  DeleteSigningCertificateCommand,
  DeleteSSHPublicKeyCommand,
  UpdateAccessKeyCommand,
  UpdateServiceSpecificCredentialCommand,
  UpdateSigningCertificateCommand,
  UpdateSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';

/**
 * Everything an IAM user signs in or calls AWS with, besides the console password: what a disable
 * sets Inactive (and records, for a rehire), a re-enable sets Active again, and a purge deletes
 * before DeleteUser (which IAM refuses while any remain). AWS keeps them when they are inactive,
 * so nothing is lost.
 */

export type CredentialStatus = 'Active' | 'Inactive';

export interface IamCalls {
  iam: IAMClient;
  pageSize: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  pages<P extends { IsTruncated?: boolean; Marker?: string }, T>(command: (marker: string | undefined) => any, items: (page: P) => T[] | undefined, what: string): Promise<T[]>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  send<T>(command: any, what: string): Promise<T>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ignoring(code: string, command: any, what: string): Promise<boolean>;
  /** An endpoint that does not implement a call (an HTML error page, not an IAM error). */
  isForeignErrorPage(err: unknown): boolean;
  classify(err: unknown, what: string): Error;
}

export interface CredentialKind {
  /** Key of the DisableRecord field and the tag that records what a disable made Inactive. */
  name: 'accessKeys' | 'sshPublicKeys' | 'signingCertificates' | 'serviceSpecificCredentials';
  tag: string;
  /** The IAM call that lists them, as records name it. */
  listing: string;
  /** Ids with their status; null when the endpoint does not implement the listing (recorded, then skipped). */
  list(userName: string): Promise<{ id: string; status: string }[] | null>;
  setStatus(userName: string, id: string, status: CredentialStatus): Promise<void>;
  /** Deletes one (already gone counts as deleted); returns the step as the delete record shows it. */
  remove(userName: string, id: string): Promise<string>;
}

export function credentialKinds(c: IamCalls): CredentialKind[] {
  const u = (UserName: string) => ({ UserName });
  return [
    {
      name: 'accessKeys',
      listing: 'ListAccessKeys',
      tag: 'idflow:deactivated-keys',
      list: async (userName) =>
        (await c.pages<ListAccessKeysCommandOutput, NonNullable<ListAccessKeysCommandOutput['AccessKeyMetadata']>[number]>((Marker) => new ListAccessKeysCommand({ ...u(userName), Marker, MaxItems: c.pageSize }), (p) => p.AccessKeyMetadata, `ListAccessKeys ${userName}`)).map((k) => ({ id: k.AccessKeyId!, status: k.Status! })),
      setStatus: async (userName, AccessKeyId, Status) => void (await c.ignoring('NoSuchEntity', new UpdateAccessKeyCommand({ ...u(userName), AccessKeyId, Status }), `UpdateAccessKey ${userName}`)),
      remove: async (userName, AccessKeyId) => {
        await c.ignoring('NoSuchEntity', new DeleteAccessKeyCommand({ ...u(userName), AccessKeyId }), `DeleteAccessKey ${userName}`);
        return `DeleteAccessKey ${AccessKeyId}`;
      },
    },
    {
      name: 'sshPublicKeys',
      listing: 'ListSSHPublicKeys',
      tag: 'idflow:deactivated-ssh-keys',
      list: async (userName) =>
        (await c.pages<ListSSHPublicKeysCommandOutput, NonNullable<ListSSHPublicKeysCommandOutput['SSHPublicKeys']>[number]>((Marker) => new ListSSHPublicKeysCommand({ ...u(userName), Marker, MaxItems: c.pageSize }), (p) => p.SSHPublicKeys, `ListSSHPublicKeys ${userName}`)).map((k) => ({ id: k.SSHPublicKeyId!, status: k.Status! })),
      setStatus: async (userName, SSHPublicKeyId, Status) => void (await c.ignoring('NoSuchEntity', new UpdateSSHPublicKeyCommand({ ...u(userName), SSHPublicKeyId, Status }), `UpdateSSHPublicKey ${userName}`)),
      remove: async (userName, SSHPublicKeyId) => {
        await c.ignoring('NoSuchEntity', new DeleteSSHPublicKeyCommand({ ...u(userName), SSHPublicKeyId }), `DeleteSSHPublicKey ${userName}`);
        return `DeleteSSHPublicKey ${SSHPublicKeyId}`;
      },
    },
    {
      name: 'signingCertificates',
      listing: 'ListSigningCertificates',
      tag: 'idflow:deactivated-certificates',
      list: async (userName) =>
        (await c.pages<ListSigningCertificatesCommandOutput, NonNullable<ListSigningCertificatesCommandOutput['Certificates']>[number]>((Marker) => new ListSigningCertificatesCommand({ ...u(userName), Marker, MaxItems: c.pageSize }), (p) => p.Certificates, `ListSigningCertificates ${userName}`)).map((k) => ({ id: k.CertificateId!, status: k.Status! })),
      setStatus: async (userName, CertificateId, Status) => void (await c.ignoring('NoSuchEntity', new UpdateSigningCertificateCommand({ ...u(userName), CertificateId, Status }), `UpdateSigningCertificate ${userName}`)),
      remove: async (userName, CertificateId) => {
        await c.ignoring('NoSuchEntity', new DeleteSigningCertificateCommand({ ...u(userName), CertificateId }), `DeleteSigningCertificate ${userName}`);
        return `DeleteSigningCertificate ${CertificateId}`;
      },
    },
    {
      // Git over HTTPS to CodeCommit, Keyspaces, Bedrock. Not paged in the IAM API.
      name: 'serviceSpecificCredentials',
      listing: 'ListServiceSpecificCredentials',
      tag: 'idflow:deactivated-service-credentials',
      list: async (userName) => {
        try {
          const out = (await c.iam.send(new ListServiceSpecificCredentialsCommand(u(userName)))) as ListServiceSpecificCredentialsCommandOutput;
          return (out.ServiceSpecificCredentials ?? []).map((k) => ({ id: k.ServiceSpecificCredentialId!, status: k.Status! }));
        } catch (err) {
          if (c.isForeignErrorPage(err)) return null;
          throw c.classify(err, `ListServiceSpecificCredentials ${userName}`);
        }
      },
      setStatus: async (userName, ServiceSpecificCredentialId, Status) => void (await c.ignoring('NoSuchEntity', new UpdateServiceSpecificCredentialCommand({ ...u(userName), ServiceSpecificCredentialId, Status }), `UpdateServiceSpecificCredential ${userName}`)),
      remove: async (userName, ServiceSpecificCredentialId) => {
        await c.ignoring('NoSuchEntity', new DeleteServiceSpecificCredentialCommand({ ...u(userName), ServiceSpecificCredentialId }), `DeleteServiceSpecificCredential ${userName}`);
        return `DeleteServiceSpecificCredential ${ServiceSpecificCredentialId}`;
      },
    },
  ];
}

/**
 * Policies attached to the user directly or inline: idflow does not own them, so it leaves them,
 * and reports them as what would grant access again once any credential is active.
 */
export async function directPolicies(c: IamCalls, userName: string): Promise<string[]> {
  const attached = await c.pages<ListAttachedUserPoliciesCommandOutput, NonNullable<ListAttachedUserPoliciesCommandOutput['AttachedPolicies']>[number]>(
    (Marker) => new ListAttachedUserPoliciesCommand({ UserName: userName, Marker, MaxItems: c.pageSize }),
    (p) => p.AttachedPolicies,
    `ListAttachedUserPolicies ${userName}`,
  );
  const inline = await c.pages<ListUserPoliciesCommandOutput, string>((Marker) => new ListUserPoliciesCommand({ UserName: userName, Marker, MaxItems: c.pageSize }), (p) => p.PolicyNames, `ListUserPolicies ${userName}`);
  return [...attached.map((p) => `managed policy ${p.PolicyArn} attached to the user directly`), ...inline.map((n) => `inline policy ${n}`)];
}
