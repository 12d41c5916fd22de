import { idflow, temporalClient } from '../support/stack';

/** `idflow schedule`: Temporal Schedules from the config; idflow has no scheduler of its own. */
afterAll(async () => {
  const { client, close } = await temporalClient();
  try {
    for (const id of ['idflow-reconcile', 'idflow-delta-sync']) await client.schedule.getHandle(id).delete().catch(() => undefined);
  } finally {
    await close();
  }
});

test('apply creates the schedules from the config, then updates them; pause, unpause, trigger and describe work', async () => {
  const created = idflow(['schedule', 'apply']);
  expect(created.stderr).toBe('');
  expect(created.stdout).toBe('idflow-reconcile: created (every 6 hours)\nidflow-delta-sync: created (every 5 minutes)\n');
  expect(idflow(['schedule', 'apply']).stdout).toBe('idflow-reconcile: updated (every 6 hours)\nidflow-delta-sync: updated (every 5 minutes)\n');

  expect(idflow(['schedule', 'pause', 'reconcile', '--note', 'change freeze']).stdout).toBe('idflow-reconcile: paused\n');
  const paused = JSON.parse(idflow(['schedule', 'describe', 'reconcile']).stdout) as { paused: boolean; note: string; spec: { intervals: { every: number }[] } };
  expect(paused).toMatchObject({ paused: true, note: 'change freeze' });
  expect(paused.spec.intervals[0]!.every).toBe(6 * 3_600_000);
  // Applying the config again leaves an operator's pause alone, and says so.
  expect(idflow(['schedule', 'apply']).stdout).toBe('idflow-reconcile: updated (every 6 hours); left paused (change freeze): idflow schedule unpause reconcile resumes it\nidflow-delta-sync: updated (every 5 minutes)\n');
  expect(JSON.parse(idflow(['schedule', 'describe', 'reconcile']).stdout)).toMatchObject({ paused: true, note: 'change freeze' });
  expect(idflow(['schedule', 'unpause', 'reconcile']).stdout).toBe('idflow-reconcile: unpaused\n');

  expect(idflow(['schedule', 'trigger', 'delta-sync']).stdout).toBe('idflow-delta-sync: triggered\n');
  const { client, close } = await temporalClient();
  try {
    let started = 0;
    for (let i = 0; i < 40 && started === 0; i++) {
      for await (const wf of client.workflow.list({ query: `WorkflowType = 'deltaSyncWorkflow' AND WorkflowId STARTS_WITH 'idflow-delta-sync-run'` })) if (wf) started += 1;
      if (started === 0) await new Promise((r) => setTimeout(r, 250));
    }
    expect(started).toBeGreaterThan(0);
  } finally {
    await close();
  }
});

test('an unknown schedule name is a clear error', () => {
  const r = idflow(['schedule', 'pause', 'nightly']);
  expect(r.status).toBe(2);
  expect(r.stderr).toBe('idflow: unknown schedule "nightly"; use reconcile or delta-sync\n');
});
