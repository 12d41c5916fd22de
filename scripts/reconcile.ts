import type { Duration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';
import { Command } from 'commander';
import { type ReconcileResult, progressQuery, reconcileWorkflow } from '../workflows/reconcile';
import { currentPrincipal } from '../client/principal';
import { temporalSettings } from '../workers/connection';
import { CliError, connectClient } from './client';
import { printTargetResults } from './reconcile-output';

/** `idflow reconcile`: a full sync as a workflow; with --dry-run it only plans. */
export function reconcileCommand(): Command {
  return new Command('reconcile')
    .description('read the source and every target, plan, and repair drift (a workflow; --dry-run only plans)')
    .option('--dry-run', 'plan only: show what would change, change nothing')
    .option('--target <name...>', 'only these targets')
    .option('--approval-timeout <duration>', 'how long held deletions wait for idflow approve (then rejected)', '24 hours')
    .option('--wait', 'wait for the run to finish, showing progress')
    .option('--json', 'print the result as JSON (implies --wait)')
    .action(async (opts: { dryRun?: boolean; target?: string[]; approvalTimeout: string; wait?: boolean; json?: boolean }) => {
      const approvalTimeout = duration(opts.approvalTimeout, '--approval-timeout');
      const { client, taskQueue, close } = await connectClient();
      try {
        const workflowId = `reconcile-${opts.dryRun ? 'dry-run-' : ''}${new Date().toISOString().replace(/[:.]/g, '-')}`;
        const handle = await client.workflow.start(reconcileWorkflow, {
          workflowId,
          taskQueue,
          args: [{ dryRun: opts.dryRun ?? false, targets: opts.target, approvalTimeout, requestedBy: currentPrincipal(temporalSettings()).name }],
          staticSummary: opts.dryRun ? 'reconcile (dry run)' : 'reconcile',
        });
        if (!opts.wait && !opts.json) {
          console.log(`started ${workflowId}`);
          return;
        }
        // Progress goes to stderr, with --json too: stdout stays the one JSON document, and a run
        // held for approval says so instead of blocking silently.
        console.error(`started ${workflowId}`);
        let lastPhase = '';
        const result = await new Promise<ReconcileResult>((resolve, reject) => {
          const timer = setInterval(() => {
            void handle.query(progressQuery).then((p) => {
              if (p.phase === lastPhase) return;
              lastPhase = p.phase;
              console.error(`  ${p.phase}${p.phase === 'awaiting approval' ? `: ${p.held.map((h) => `${h.target} ${h.reason}`).join('; ')}; run: idflow approve ${workflowId} (or reject)` : ''}`);
            }, () => undefined);
          }, 1000);
          handle.result().then(resolve, reject).finally(() => clearInterval(timer));
        });
        if (opts.json) console.log(JSON.stringify(result, null, 2));
        else {
          console.log(result.summary);
          printTargetResults(result.results);
        }
        if (result.results.some((r) => r.failures.count > 0)) throw new CliError('some identities failed; see above', 3);
      } finally {
        await close();
      }
    });
}

function duration(value: string, flag: string): Duration {
  try {
    if (msToNumber(value as Duration) > 0) return value as Duration;
  } catch {
    // reported below
  }
  throw new CliError(`${flag} must be a duration such as "30s", "10 minutes" or "24 hours", not "${value}"`, 2);
}
