import type { ReconcileTargetResult } from '../activities/reconcile';

export function printTargetResults(results: readonly ReconcileTargetResult[]): void {
  for (const r of results) {
    const planned = Object.entries(r.planned).filter(([, n]) => n > 0).map(([op, n]) => `${op} ${n}`).join(', ') || 'nothing';
    const applied = Object.entries(r.applied).filter(([, n]) => n > 0).map(([op, n]) => `${op} ${n}`).join(', ') || 'nothing';
    console.log(`\n${r.target}: ${r.identitiesRead} identities, ${r.accountsOwned} owned accounts; planned ${planned}; applied ${r.dryRun ? '(dry run)' : applied}`);
    if (r.guard.triggered) console.log(`  HELD by the deletion guard: ${r.guard.reason}`);
    if (r.drift.count) console.log(`  drift: ${r.drift.count}\n${r.drift.sample.map((d) => `    ${d}`).join('\n')}`);
    if (r.findings.count) console.log(`  findings: ${r.findings.count}\n${r.findings.sample.map((f) => `    ${f}`).join('\n')}`);
    if ((r.rounds ?? 1) > 1) console.log(`  rounds: ${r.rounds} (transient failures were retried)`);
    if (r.failures.count) console.log(`  failures: ${r.failures.count}${r.failures.retryable ? ` (${r.failures.retryable} transient, still failing after every round)` : ''}\n${r.failures.sample.map((f) => `    ${f.employeeId}: ${f.error}`).join('\n')}`);
    if (r.skipped.count) console.log(`  skipped (own workflow running): ${r.skipped.sample.join(', ')}`);
    if (r.verify.checked) console.log(`  verify: ${r.verify.remaining === 0 ? 'target matches the plan' : `${r.verify.remaining} differences remain`}`);
    console.log(`  reads: ${r.reads.sourcePages} source pages, ${r.reads.targetCalls} target calls; ${(r.durationMs / 1000).toFixed(1)} s`);
  }
}
