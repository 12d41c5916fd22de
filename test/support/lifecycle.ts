import { TENANT_DOMAIN } from '../../simulator/certs';
import { type EventOutcome, statusQuery } from '../../workflows/identity';
import { reconcileWorkflow, type ReconcileInput, type ReconcileResult } from '../../workflows/reconcile';
import { EntraAdmin } from './entra-admin';
import { type CliResult, idflow, temporalClient } from './stack';

/** Arranging and driving a person's lifecycle on the shared stack, through the real CLI and workflows. */

export const entra = new EntraAdmin();

/** `idflow event <type> --wait --json` and its one outcome (also when the CLI exits non-zero for a failed or pending event). */
export function sendEvent(type: string, employeeId: string, extra: string[] = []): EventOutcome & { cli: CliResult } {
  const r = idflow(['event', type, '--employee-id', employeeId, '--wait', '--json', ...extra]);
  if (r.stdout.trim() === '') throw new Error(`idflow event ${type} gave no output: ${r.stderr}`);
  return { ...(JSON.parse(r.stdout) as EventOutcome[])[0]!, cli: r };
}

export async function groupId(displayName: string): Promise<string> {
  const page = await entra.call<{ value: { id: string }[] }>('GET', `/v1.0/groups?$filter=${encodeURIComponent(`displayName eq '${displayName}'`)}&$select=id`);
  return page.value[0]!.id;
}

/** A new Entra user; in Engineering (so in All Staff, in scope for both targets) unless `inGroups` is false. */
export async function newUser(employeeId: string, localPart: string, displayName: string, inGroups = true): Promise<string> {
  const u = await entra.call<{ id: string }>('POST', '/_admin/users', {
    displayName, givenName: displayName.split(' ')[0], surname: displayName.split(' ')[1] ?? 'X', userPrincipalName: `${localPart}@${TENANT_DOMAIN}`,
    mail: `${localPart.replace(/'/g, '')}@${TENANT_DOMAIN}`, employeeId, department: 'Engineering', jobTitle: 'Engineer', accountEnabled: true,
  });
  if (inGroups) await entra.call('POST', `/_admin/groups/${await groupId('Engineering')}/members`, { id: u.id });
  return u.id;
}

/**
 * Until each person's identity workflow has nothing left to do (their retention included): finished,
 * or only remembering a purged leaver whom Entra ID still lists.
 */
export async function settled(employeeIds: string[]): Promise<void> {
  const { client, close } = await temporalClient();
  try {
    for (const id of employeeIds) {
      const handle = client.workflow.getHandle(`identity-${id}`);
      // Ends with the race: a poll left running after the workflow closed kept the test process alive.
      let decided = false;
      const remembering = (async () => {
        while (!decided) {
          const status = await handle.query(statusQuery).catch(() => null);
          if (status?.leftSince) return;
          await new Promise((r) => setTimeout(r, 500));
        }
      })();
      await Promise.race([handle.result().catch(() => undefined), remembering]);
      decided = true;
    }
  } finally {
    await close();
  }
}

export async function runReconcile(input: ReconcileInput = {}, workflowId = `test-reconcile-${Date.now()}`): Promise<ReconcileResult> {
  const { client, close } = await temporalClient();
  try {
    return await client.workflow.execute(reconcileWorkflow, { workflowId, taskQueue: 'idflow', args: [{ approvalTimeout: '1 second', ...input }] });
  } finally {
    await close();
  }
}
