import type { Client } from '@temporalio/client';
import { Command } from 'commander';
import { decideRevocationsUpdate, REVOCATION_GUARD_WORKFLOW_ID } from '../contracts/revocation-guard';
import { currentPrincipal } from '../client/principal';
import { describeHeld, guardState, heldSetDigest } from '../client/revocation-guard';
import { temporalSettings } from '../workers/connection';
import { CliError, connectClient } from './client';

/**
 * `idflow approve|reject <workflowId>`: the human decision on what a reconcile run or the
 * mass-revocation guard holds (a Temporal Update). The decider is the authenticated principal.
 */
export function decisionCommand(kind: 'approve' | 'reject'): Command {
  return new Command(kind)
    .description(`${kind} the disables, deletes and membership removals a reconcile run or the mass-revocation guard holds`)
    .argument('<workflowId>', `a reconcile run (reconcile-2026-11-26T07-00-00-000Z) or ${REVOCATION_GUARD_WORKFLOW_ID}`)
    .option('--digest <sha256>', `for ${REVOCATION_GUARD_WORKFLOW_ID}: the digest of the held set you reviewed; without it, the held set is shown`)
    .option('--note <text>', 'why, for the audit trail')
    .action(async (workflowId: string, opts: { note?: string; digest?: string }) => {
      const { client, close } = await connectClient();
      try {
        const principal = currentPrincipal(temporalSettings());
        const by = principal.name;
        if (workflowId === REVOCATION_GUARD_WORKFLOW_ID) {
          await decideGuard(client, kind, by, opts);
          return;
        }
        const { approveUpdate, progressQuery, rejectUpdate } = await import('../workflows/reconcile');
        const handle = client.workflow.getHandle(workflowId);
        // The decision names exactly the held actions shown here; the run applies those or nothing.
        const progress = await handle.query(progressQuery).catch(() => null);
        const digests = Object.fromEntries((progress?.held ?? []).flatMap((h) => (h.digest ? [[h.target, h.digest]] : [])));
        for (const h of progress?.held ?? []) console.log(`${h.target}: ${h.count} held (${h.reason})${h.digest ? `, digest ${h.digest}` : ''}`);
        const decision = await handle
          .executeUpdate(kind === 'approve' ? approveUpdate : rejectUpdate, { args: [{ by, note: opts.note, ...(Object.keys(digests).length ? { digests } : {}) }] })
          .catch((err: Error) => {
            throw new CliError(`${kind} ${workflowId} failed: ${(err.cause as Error | undefined)?.message ?? err.message}`);
          });
        console.log(`${workflowId}: ${decision.approved ? 'approved' : 'rejected'} by ${decision.by}`);
      } finally {
        await close();
      }
    });
}

/** Shows the held set and its digest; decides only on a digest that still matches it. */
async function decideGuard(client: Client, kind: 'approve' | 'reject', by: string, opts: { note?: string; digest?: string }): Promise<void> {
  const state = await guardState(client);
  if (!state || state.held.length === 0) throw new CliError(`${REVOCATION_GUARD_WORKFLOW_ID} holds nothing`);
  const digest = heldSetDigest(state.held);
  if (!opts.digest) {
    console.log(`${state.held.length} revocations held by ${REVOCATION_GUARD_WORKFLOW_ID} (${state.held[0]!.heldBecause}):`);
    for (const h of state.held) console.log(`  ${describeHeld(h)}`);
    console.log(`digest ${digest}`);
    throw new CliError(`review the list, then: idflow ${kind} ${REVOCATION_GUARD_WORKFLOW_ID} --digest ${digest}`, 2);
  }
  if (opts.digest !== digest) throw new CliError(`the held set changed since it was reviewed (digest now ${digest}); run idflow ${kind} ${REVOCATION_GUARD_WORKFLOW_ID} again to see it`, 2);
  const decided = await client.workflow
    .getHandle(REVOCATION_GUARD_WORKFLOW_ID)
    .executeUpdate(decideRevocationsUpdate, { args: [{ approved: kind === 'approve', by, digest, requestIds: state.held.map((h) => h.requestId), ...(opts.note ? { note: opts.note } : {}) }] })
    .catch((err: Error) => {
      throw new CliError(`${kind} ${REVOCATION_GUARD_WORKFLOW_ID} failed: ${(err.cause as Error | undefined)?.message ?? err.message}`);
    });
  console.log(`${REVOCATION_GUARD_WORKFLOW_ID}: ${decided.decided} revocations ${decided.approved ? 'approved' : 'rejected'} by ${by} (digest ${digest})`);
}
