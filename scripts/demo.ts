import { randomUUID } from 'node:crypto';
import { GetUserCommand, IAMClient, paginateListGroupsForUser, paginateListUsers } from '@aws-sdk/client-iam';
import { Command } from 'commander';
import { readStackFile, type StackInfo, stackEnv } from '../devstack/stack-file';
import { printStack, startDevStack, untilSignal } from './dev';
import { sendEvents } from './event';

const DEMO_EMPLOYEES = ['E1001', 'E1002', 'E1003'];

/** `idflow demo`: the local stack, a few joiners, and what they got. */
export function demoCommand(): Command {
  return new Command('demo')
    .description('start the local stack, send joiner events for seeded employees and show what was provisioned')
    .option('--keep-running', 'leave the stack up afterwards (Ctrl-C stops it)')
    .action(async (opts: { keepRunning?: boolean }) => {
      const existing = liveStack();
      const stack = existing ? null : await startDevStack({});
      const info = existing ?? stack!.info;
      try {
        if (existing) console.log('idflow demo: using the running stack from .idflow/stack.json');
        printStack(info);
        // This process must reach the stack it just started: Temporal, and the payload encryption key.
        Object.assign(process.env, stackEnv(info));
        console.log(`\nSending joiner events for ${DEMO_EMPLOYEES.join(', ')} ...`);
        await sendEvents(
          DEMO_EMPLOYEES.map((employeeId) => ({ type: 'joiner' as const, employeeId, eventId: `demo-${randomUUID()}` })),
          { wait: true, timeoutSeconds: 180 },
        );
        console.log('\nAWS IAM users idflow owns (read back from moto):');
        await printIam(info);
        console.log('\nSCIM app users idflow owns (read back from scim2-server):');
        await printScim(info);
        if (info.temporal.uiUrl) {
          const query = encodeURIComponent(`IdflowEmployeeId IN ("${DEMO_EMPLOYEES.join('","')}")`);
          console.log(`\nTemporal UI: ${info.temporal.uiUrl}/namespaces/${info.temporal.namespace}/workflows?query=${query}`);
        }
        if (opts.keepRunning && stack) {
          console.log('\nidflow demo: the stack keeps running; press Ctrl-C to stop');
          await untilSignal();
        }
      } finally {
        await stack?.stop();
      }
    });
}

async function printScim(info: StackInfo): Promise<void> {
  const headers = { authorization: `Bearer ${info.scim.token}` };
  const get = async (path: string) => ((await (await fetch(`${info.scim.baseUrl}${path}`, { headers })).json()) as { Resources?: Record<string, unknown>[] }).Resources ?? [];
  const groups = await get('/Groups?count=1000');
  for (const u of await get('/Users?count=1000')) {
    if (!String(u.externalId ?? '').startsWith('idflow:')) continue;
    const member = groups.filter((g) => ((g.members as { value: string }[] | undefined) ?? []).some((m) => m.value === u.id)).map((g) => String(g.displayName));
    console.log(`  ${String(u.userName)}  (${u.active === false ? 'inactive' : 'active'}, externalId ${String(u.externalId)})\n    groups: ${member.sort().join(', ') || '-'}\n    title:  ${String(u.title ?? '-')}`);
  }
}

function liveStack(): StackInfo | null {
  const info = readStackFile();
  if (!info) return null;
  const alive = Object.values(info.pids).every((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  return alive && Object.keys(info.pids).length > 0 ? info : null;
}

async function printIam(info: StackInfo): Promise<void> {
  const iam = new IAMClient({ endpoint: info.iam.endpoint, region: info.iam.region, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  for await (const page of paginateListUsers({ client: iam }, { PathPrefix: '/idflow/' })) {
    for (const u of page.Users ?? []) {
      const { User } = await iam.send(new GetUserCommand({ UserName: u.UserName! }));
      const groups: string[] = [];
      for await (const g of paginateListGroupsForUser({ client: iam }, { UserName: u.UserName! })) groups.push(...(g.Groups ?? []).map((x) => x.GroupName!));
      const tags = (User?.Tags ?? []).map((t) => `${t.Key}=${t.Value}`).join(', ');
      console.log(`  ${u.UserName}  (${u.Path})\n    groups: ${groups.sort().join(', ') || '-'}\n    tags:   ${tags}`);
    }
  }
}
