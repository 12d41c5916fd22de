import type { TargetPlan } from '../../domain/reconcile';
import { reconcileWorkflow } from '../../workflows/reconcile';
import { eventually } from '../support/iam';
import { BUSY_IDENTITIES, idflow, resetTargets, temporalClient } from '../support/stack';

/** `idflow plan` on the local stack: every create first, nothing after a sync. */
beforeAll(async () => {
  // A reconcile skips people whose identity workflow runs (other files' events): let them finish first.
  const { client, close } = await temporalClient();
  try {
    await eventually('no identity workflow running', async () => {
      let n = 0;
      for await (const _ of client.workflow.list({ query: BUSY_IDENTITIES })) n += 1;
      return n;
    }, (n) => n === 0, 90_000);
  } finally {
    await close();
  }
  await resetTargets();
}, 120_000);

test('the first plan shows every create with its reason; after a sync the plan is empty', async () => {
  const first = idflow(['plan', '--json']);
  expect(first.stderr).toBe('');
  const plans = JSON.parse(first.stdout) as TargetPlan[];
  expect(plans.map((p) => p.target)).toEqual(['aws', 'app']);
  const aws = plans[0]!;
  expect(aws.counts.create).toBeGreaterThan(40);
  expect(aws.counts.update + aws.counts.disable + aws.counts.delete + aws.counts.removeMember).toBe(0);
  expect(aws.identities.find((i) => i.employeeId === 'E1001')!.actions[0]).toMatchObject({ op: 'create', userName: 'ada.lovelace', reason: 'in scope and no account exists' });

  const table = idflow(['plan', '--target', 'aws']);
  expect(table.stdout).toMatch(/^target aws: createGroup 5, create \d+, addMember \d+$/m);
  expect(table.stdout).toMatch(/^create\s+E1001\s+ada\.lovelace\s+enabled\s+in scope and no account exists$/m);

  const { client, close } = await temporalClient();
  try {
    await client.workflow.execute(reconcileWorkflow, { workflowId: `test-plan-sync-${Date.now()}`, taskQueue: 'idflow', args: [{}] });
  } finally {
    await close();
  }
  const after = JSON.parse(idflow(['plan', '--json']).stdout) as TargetPlan[];
  for (const p of after) expect({ target: p.target, actions: Object.values(p.counts).reduce((a, b) => a + b, 0) }).toEqual({ target: p.target, actions: 0 });
  expect(idflow(['plan']).stdout).toBe('\ntarget aws: no changes\n\ntarget app: no changes\n');
});
