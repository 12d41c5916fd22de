import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { IAMClient } from '@aws-sdk/client-iam';
import { Client, Connection } from '@temporalio/client';
import { REVOCATION_GUARD_WORKFLOW_ID } from '../../contracts/revocation-guard';
import { projectRoot } from '../../devstack/stack';
import { dataConverterFromEnv } from '../../encryption';
import { readStackFile, type StackInfo, stackEnv } from '../../devstack/stack-file';
import { type CliResult, withOverrides } from './cli';

/** Set by test/global-setup.ts for this jest run only, so concurrent runs never share a stack. */
export const TEST_STACK_ENV = 'IDFLOW_TEST_STACK_FILE';

export function testStack(): StackInfo {
  const file = process.env[TEST_STACK_ENV];
  const info = file ? readStackFile(file) : null;
  if (!info) throw new Error(`no test stack (${TEST_STACK_ENV}=${file ?? ''}); run the tests through jest's globalSetup`);
  return info;
}

/** A client that encrypts and decrypts payloads, like every idflow process. */
export async function temporalClient(): Promise<{ client: Client; close: () => Promise<void> }> {
  return connect(true);
}

/** A client without the key: sees what the Temporal server, its database and its backups hold. */
export async function rawTemporalClient(): Promise<{ client: Client; close: () => Promise<void> }> {
  return connect(false);
}

async function connect(withCodec: boolean): Promise<{ client: Client; close: () => Promise<void> }> {
  const info = testStack();
  const connection = await Connection.connect({ address: info.temporal.address });
  const dataConverter = withCodec ? dataConverterFromEnv(info.encryption.env) : undefined;
  return { client: new Client({ connection, namespace: info.temporal.namespace, dataConverter }), close: () => connection.close() };
}

export function iamClient(): IAMClient {
  const info = testStack();
  return new IAMClient({ endpoint: info.iam.endpoint, region: info.iam.region, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 1 });
}

/** Clears moto between tests, so each starts from an empty AWS account. */
export async function resetMoto(): Promise<void> {
  const res = await fetch(`${testStack().iam.endpoint}/moto-api/reset`, { method: 'POST' });
  if (!res.ok) throw new Error(`moto reset failed: ${res.status}`);
}

export type { CliResult } from './cli';

/** Runs the real `idflow` CLI against the test stack (synchronously: runIdflow in ./cli is the async form). */
export function idflow(args: string[], input?: string, overrides: Record<string, string | undefined> = {}): CliResult {
  const env = withOverrides({ ...process.env, ...stackEnv(testStack()), IDFLOW_STATE_DIR: join(projectRoot(), '.idflow', 'test-cli') }, overrides);
  const r = spawnSync(process.execPath, [join(projectRoot(), 'bin', 'idflow'), ...args], { env, input, encoding: 'utf8', timeout: 180_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Deletes every user and group in the shared scim2-server (it has no reset endpoint). */
export async function resetScim(): Promise<void> {
  const { baseUrl, token } = testStack().scim;
  const headers = { authorization: `Bearer ${token}`, accept: 'application/scim+json' };
  for (const resource of ['Users', 'Groups']) {
    // Every round must shrink the set: a DELETE the server refuses would otherwise loop for ever.
    let left = Infinity;
    for (;;) {
      const res = await fetch(`${baseUrl}/${resource}?count=200&attributes=id`, { headers });
      const page = (await res.json()) as { Resources?: { id: string }[]; totalResults?: number };
      if (!page.Resources?.length) break;
      const total = page.totalResults ?? page.Resources.length;
      if (total >= left) throw new Error(`resetScim: ${total} ${resource} left after deleting; the server refused some DELETEs`);
      left = total;
      const refused: string[] = [];
      await Promise.all(page.Resources.map((r) => fetch(`${baseUrl}/${resource}/${r.id}`, { method: 'DELETE', headers }).then(async (d) => {
        await d.body?.cancel();
        if (!d.ok && d.status !== 404) refused.push(`${r.id}: ${d.status}`);
      })));
      if (refused.length) throw new Error(`resetScim: DELETE refused for ${refused.length} ${resource} (${refused.slice(0, 3).join(', ')})`);
    }
  }
}

/** Both targets back to empty. */
/**
 * Fresh targets, and the workflows that remember them: the mass-revocation guard (its window counted
 * revocations on the targets just emptied) and purged leavers kept from being re-created.
 */
export async function resetTargets(): Promise<void> {
  await Promise.all([resetMoto(), resetScim(), resetRememberedWorkflows()]);
}

export async function resetRememberedWorkflows(): Promise<void> {
  const { client, close } = await temporalClient();
  try {
    await client.workflow.getHandle(REVOCATION_GUARD_WORKFLOW_ID).terminate('test: targets reset').catch(() => undefined);
    for await (const wf of client.workflow.list({ query: `WorkflowType = 'identityWorkflow' AND ExecutionStatus = 'Running' AND IdflowLeftButInSource = true` })) {
      await client.workflow.getHandle(wf.workflowId).terminate('test: targets reset').catch(() => undefined);
    }
  } finally {
    await close();
  }
}

/** Identity workflows with work left: a purged leaver Entra ID still lists only waits, and is not counted. */
export const BUSY_IDENTITIES = `WorkflowType = 'identityWorkflow' AND ExecutionStatus = 'Running' AND (IdflowLeftButInSource IS NULL OR IdflowLeftButInSource = false)`;

/** All SCIM users, as the app sees them. */
export async function scimUsers(): Promise<Record<string, unknown>[]> {
  const { baseUrl, token } = testStack().scim;
  const res = await fetch(`${baseUrl}/Users?count=1000`, { headers: { authorization: `Bearer ${token}` } });
  return ((await res.json()) as { Resources?: Record<string, unknown>[] }).Resources ?? [];
}

/** Display names of the SCIM groups a user is a member of, read from the groups' side. */
export async function scimGroupsOf(userId: string): Promise<string[]> {
  const { baseUrl, token } = testStack().scim;
  const res = await fetch(`${baseUrl}/Groups?count=1000`, { headers: { authorization: `Bearer ${token}` } });
  const groups = ((await res.json()) as { Resources?: { displayName: string; members?: { value: string }[] }[] }).Resources ?? [];
  return groups.filter((g) => (g.members ?? []).some((m) => m.value === userId)).map((g) => g.displayName).sort();
}
