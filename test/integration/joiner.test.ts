import { CreateUserCommand } from '@aws-sdk/client-iam';
import { WorkflowNotFoundError } from '@temporalio/client';
import { type EventOutcome, statusQuery, waitForOutcomeUpdate } from '../../workflows/identity';
import { idflowUsers, userGroups, userTags } from '../support/iam';
import { iamClient, idflow, resetTargets, scimGroupsOf, scimUsers, temporalClient } from '../support/stack';

const iam = iamClient();

function outcomes(stdout: string): EventOutcome[] {
  return JSON.parse(stdout) as EventOutcome[];
}

beforeEach(resetTargets);

describe('joiner event, end to end through the CLI, Temporal, Graph and IAM', () => {
  test('provisions the IAM user with ownership and mapped tags, and the groups mapped from nested Entra groups', async () => {
    const r = idflow(['event', 'joiner', '--employee-id', 'E1001', '--wait', '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [outcome] = outcomes(r.stdout);
    expect(outcome).toMatchObject({ type: 'joiner', outcome: 'provisioned' });
    expect(outcome!.targets).toEqual([expect.objectContaining({ target: 'aws', verified: true }), expect.objectContaining({ target: 'app', verified: true })]);

    expect(await idflowUsers()).toEqual(['ada.lovelace']);
    const tags = await userTags('ada.lovelace');
    expect(tags).toMatchObject({
      'idflow:owner': 'idflow',
      'idflow:employee-id': 'E1001',
      'idflow:status': 'enabled',
      DisplayName: 'Ada Lovelace',
      Department: 'Engineering',
      CostCenter: 'CC-100',
    });
    expect(tags['idflow:external-id']).toMatch(/^[0-9a-f-]{36}$/);
    // Cloud Admins directly; Engineering through Platform Team; All Staff through Engineering.
    expect(await userGroups('ada.lovelace')).toEqual(['idflow-admins', 'idflow-all-staff', 'idflow-engineering']);

    // The SCIM app gets only what its mapping names, with idflow's ownership marker in externalId.
    const [scim] = await scimUsers();
    expect(scim).toMatchObject({
      userName: 'ada.lovelace@contoso.example',
      externalId: `idflow:idflow:${tags['idflow:external-id']}`,
      active: true,
      displayName: 'Ada Lovelace',
      name: { givenName: 'Ada', familyName: 'Lovelace' },
      emails: [{ type: 'work', value: 'ada.lovelace@contoso.example' }],
      title: 'Principal Engineer',
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: 'Engineering', employeeNumber: 'E1001' },
    });
    expect(await scimGroupsOf(scim!.id as string)).toEqual(['app-admins', 'app-engineering']);
  });

  test('the same joiner twice creates nothing twice, and a repeated event id is not processed again', async () => {
    const first = idflow(['event', 'joiner', '--employee-id', 'E1003', '--event-id', 'hr-4711', '--wait', '--json']);
    expect(first.status).toBe(0);
    expect(outcomes(first.stdout)[0]!.outcome).toBe('provisioned');

    const again = idflow(['event', 'joiner', '--employee-id', 'E1003', '--wait', '--json']);
    expect(again.status).toBe(0);
    const [second] = outcomes(again.stdout);
    expect(second!.outcome).toBe('verified');
    expect(second!.targets[0]!.actions).toBe(0);

    // The same event id again answers with the first outcome and is not processed a second time.
    const repeated = idflow(['event', 'joiner', '--employee-id', 'E1003', '--event-id', 'hr-4711', '--wait', '--json']);
    expect(outcomes(repeated.stdout)).toEqual(outcomes(first.stdout));
    const { client, close } = await temporalClient();
    try {
      const handle = client.workflow.getHandle('identity-E1003');
      let status = await handle.query(statusQuery);
      for (let i = 0; i < 50 && status.duplicatesIgnored === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        status = await handle.query(statusQuery);
      }
      expect(status.duplicatesIgnored).toBe(1);
      expect(status.recent.filter((r) => r.eventId === 'hr-4711')).toHaveLength(1);
    } finally {
      await close();
    }

    expect(await idflowUsers()).toEqual(['jose.alvarez']);
    expect(await userGroups('jose.alvarez')).toEqual(['idflow-all-staff', 'idflow-sales']);
  });

  test('the run can be found in Temporal by employee id and event type', async () => {
    expect(idflow(['event', 'joiner', '--employee-id', 'E1002', '--wait']).status).toBe(0);
    const { client, close } = await temporalClient();
    try {
      const query = `IdflowEmployeeId = 'E1002' AND IdflowEventType = 'joiner'`;
      let ids: string[] = [];
      for (let i = 0; i < 50 && ids.length === 0; i++) {
        ids = [];
        for await (const wf of client.workflow.list({ query })) ids.push(wf.workflowId);
        if (ids.length === 0) await new Promise((r) => setTimeout(r, 200));
      }
      expect(ids).toEqual(['identity-E1002']);
    } finally {
      await close();
    }
  });

  test('--wait asks the workflow for the outcome with an Update (no polling); an event it never received is refused at once', async () => {
    const sent = idflow(['event', 'mover', '--employee-id', 'E1002', '--event-id', 'wait-by-update', '--wait', '--json']);
    expect(sent.status).toBe(0);
    const { client, close } = await temporalClient();
    try {
      const handle = client.workflow.getHandle('identity-E1002');
      const updates = (await handle.fetchHistory()).events!.filter((e) => e.workflowExecutionUpdateCompletedEventAttributes || e.workflowExecutionUpdateAcceptedEventAttributes);
      // One accepted-then-completed pair per --wait in this run (the test before may have sent one too).
      const names = updates.map((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name ?? 'completed');
      expect(names.length).toBeGreaterThanOrEqual(2);
      expect(names).toEqual(Array.from({ length: names.length / 2 }, () => ['waitForOutcome', 'completed']).flat());

      // A workflow kept running by a mover effective next week: asked about an event it never got, it refuses.
      const later = new Date(Date.now() + 7 * 86_400_000).toISOString();
      expect(idflow(['event', 'mover', '--employee-id', 'E1009', '--event-id', 'next-week', '--effective-at', later]).status).toBe(0);
      const waiting = client.workflow.getHandle('identity-E1009');
      try {
        await expect(waiting.executeUpdate(waitForOutcomeUpdate, { args: ['never-sent'] })).rejects.toMatchObject({ message: 'Workflow Update failed', cause: { message: 'no event never-sent has reached this workflow' } });
      } finally {
        await waiting.terminate('test done');
      }
    } finally {
      await close();
    }
  });

  test('an account idflow does not own is reported and left untouched', async () => {
    await iam.send(new CreateUserCommand({ UserName: 'jose.alvarez', Path: '/idflow/', Tags: [{ Key: 'team', Value: 'hand-made' }] }));
    const r = idflow(['event', 'joiner', '--employee-id', 'E1003', '--wait', '--json']);
    expect(r.status).toBe(3);
    const [outcome] = outcomes(r.stdout);
    expect(outcome!.outcome).toBe('failed');
    expect(outcome!.targets[0]!.findings.join('\n')).toMatch(/unowned: an account named "jose.alvarez" exists that idflow does not own/);
    expect(await userTags('jose.alvarez')).toEqual({ team: 'hand-made' });
    expect(await userGroups('jose.alvarez')).toEqual([]);
  });
});

describe('bad HR events are refused before anything starts', () => {
  async function expectNoWorkflow(employeeId: string): Promise<void> {
    const { client, close } = await temporalClient();
    try {
      await expect(client.workflow.getHandle(`identity-${employeeId}`).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    } finally {
      await close();
    }
  }

  test('a missing employee id', async () => {
    const r = idflow(['event', 'joiner']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/required option '--employee-id <id>' not specified/);
  });

  test('an empty employee id', async () => {
    const r = idflow(['event', 'joiner', '--employee-id', '  ']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/invalid HR event: employeeId: employeeId must not be empty/);
  });

  test('an employee id with characters no HR system issues', async () => {
    const r = idflow(['event', 'joiner', '--employee-id', 'E9001; rm -rf /']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/employeeId may hold only letters, digits/);
    await expectNoWorkflow('E9001; rm -rf /');
  });

  test('an unknown field, in a batch: no event of the batch is sent', async () => {
    const batch = JSON.stringify([
      { type: 'joiner', employeeId: 'E9002' },
      { type: 'joiner', employeeId: 'E9003', department: 'Sales' },
    ]);
    const r = idflow(['event', 'batch', '-'], batch);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/event 2: invalid HR event: unknown field "department"/);
    await expectNoWorkflow('E9002');
    await expectNoWorkflow('E9003');
  });

  test('an empty batch (an HR export that produced nothing) is an error unless --allow-empty says it is expected', () => {
    for (const input of ['', '[]', '\n\n']) {
      const r = idflow(['event', 'batch', '-'], input);
      expect({ input, status: r.status, stderr: r.stderr.trim() }).toEqual({ input, status: 2, stderr: 'idflow: stdin holds no events; pass --allow-empty if an empty batch is expected' });
    }
    const allowed = idflow(['event', 'batch', '-', '--allow-empty', '--json'], '[]');
    expect({ status: allowed.status, stdout: allowed.stdout }).toEqual({ status: 0, stdout: '[]\n' });
  });

  test('an effective date without a time zone', async () => {
    const r = idflow(['event', 'joiner', '--employee-id', 'E9004', '--effective-at', '2026-12-01 09:00']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/effectiveAt must be an ISO-8601 date-time with a time zone/);
    await expectNoWorkflow('E9004');
  });
});
