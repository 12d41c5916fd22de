import { Command } from 'commander';
import { ACTION_ORDER, type Action } from '../domain/plan';
import type { TargetPlan } from '../domain/reconcile';
import { reconcileActivities } from '../activities/reconcile';
import { cliRuntime } from './client';

/**
 * `idflow plan`: what a reconcile would change, every action with its reason. It runs the same
 * planning code as the reconcile workflow, in this process, with the worker's credentials.
 */
export function planCommand(): Command {
  return new Command('plan')
    .description('show every change a reconcile would make, with its reason (changes nothing)')
    .option('--target <name...>', 'only these targets')
    .option('--json', 'print the plan as JSON')
    .action(async (opts: { target?: string[]; json?: boolean }) => {
      const runtime = cliRuntime();
      const { planLive } = reconcileActivities(runtime);
      const names = opts.target ?? [...runtime.connectors.keys()];
      const plans: TargetPlan[] = [];
      for (const name of names) plans.push((await planLive(name)).plan);
      if (opts.json) console.log(JSON.stringify(plans, null, 2));
      else for (const p of plans) printPlan(p);
    });
}

function printPlan(plan: TargetPlan): void {
  const counts = ACTION_ORDER.filter((op) => plan.counts[op] > 0).map((op) => `${op} ${plan.counts[op]}`);
  console.log(`\ntarget ${plan.target}: ${counts.length ? counts.join(', ') : 'no changes'}${plan.findings ? `, ${plan.findings} findings` : ''}`);
  const rows: string[][] = plan.groups.map((a) => [a.op, '-', '-', detail(a), a.reason]);
  for (const identity of plan.identities) {
    for (const a of identity.actions) rows.push([a.op, identity.employeeId, a.userName, detail(a), a.reason]);
    for (const f of identity.findings) rows.push([`!${f.kind}`, identity.employeeId, f.userName, '', f.detail]);
  }
  if (rows.length === 0) return;
  const header = ['ACTION', 'EMPLOYEE', 'ACCOUNT', 'DETAIL', 'REASON'];
  const widths = header.map((h, i) => Math.min(40, Math.max(h.length, ...rows.map((r) => r[i]!.length))));
  const line = (r: string[]) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]!) : c)).join('  ');
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

function detail(a: Action): string {
  if (a.op === 'createGroup' || a.op === 'addMember' || a.op === 'removeMember') return a.group;
  if (a.op === 'update') return a.changes.map((c) => `${c.attribute}: ${c.from ?? '-'} -> ${c.to ?? '-'}`).join('; ');
  if (a.op === 'create') return a.enabled ? 'enabled' : 'disabled';
  return '';
}
