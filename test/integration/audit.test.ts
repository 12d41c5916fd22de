import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord } from '../../scripts/audit-records';
import { EntraAdmin } from '../support/entra-admin';
import { runReconcile } from '../support/lifecycle';
import { idflow, resetTargets, temporalClient, testStack } from '../support/stack';

/** `idflow audit`: the access record comes from workflow histories, decrypted with the key. */
beforeAll(async () => {
  await resetTargets();
  expect(idflow(['event', 'joiner', '--employee-id', 'E1003', '--event-id', 'audit-joiner', '--note', 'HR-100', '--wait']).status).toBe(0);
  expect(idflow(['event', 'leaver', '--employee-id', 'E1003', '--event-id', 'audit-leaver', '--wait']).status).toBe(0);
});

// What this file changed is put back: the next file expects E1003 enabled and the targets fresh.
afterAll(async () => {
  await new EntraAdmin().setUser('E1003', { accountEnabled: true });
  await resetTargets();
});

test("one identity's record: events, decisions, planned actions with reasons, writes and verification", () => {
  const r = idflow(['audit', 'E1003', '--format', 'json']);
  expect(r.stderr).toBe('');
  const records = JSON.parse(r.stdout) as AuditRecord[];
  const lines = records.map((x) => `${x.kind}|${x.target ?? ''}|${x.detail}`);
  expect(lines).toEqual(expect.arrayContaining([
    'event||joiner (event audit-joiner), note: HR-100',
    'event||leaver (event audit-leaver)',
    expect.stringMatching(/^fetch\|\|source: jose\.alvarez@contoso\.example, enabled, attributes .*department.*, groups /),
    expect.stringMatching(/^decision\|aws\|in scope: account jose\.alvarez, enabled, groups idflow-all-staff, idflow-sales$/),
    'decision|aws|no account wanted: leaver event (disable)',
    expect.stringMatching(/^plan\|aws\|create jose\.alvarez \(in scope and no account exists\)$/),
    expect.stringMatching(/^write\|aws\|create jose\.alvarez/),
    expect.stringMatching(/^plan\|aws\|disable jose\.alvarez \(leaver event; policy disables\)$/),
    expect.stringMatching(/^write\|app\|disable jose\.alvarez@contoso\.example/),
    'verify|aws|target matches the desired state',
  ]));
  // Links go to this stack's Temporal UI, on whatever port it has.
  const ui = testStack().temporal.uiUrl;
  expect(records.every((x) => x.link.startsWith(`${ui}/namespaces/default/workflows/identity-E1003/`) || (ui === null && x.link === ''))).toBe(true);
  const times = records.map((x) => x.time);
  expect([...times].sort()).toEqual(times);
});

test('by userPrincipalName: Entra ID names the employee, and the record is the same as by employee id', () => {
  const byId = idflow(['audit', 'E1003', '--format', 'json']);
  const byUpn = idflow(['audit', 'Jose.Alvarez@contoso.example', '--format', 'json']);
  expect(byUpn.status).toBe(0);
  expect(byUpn.stderr).toBe('Jose.Alvarez@contoso.example is employee E1003\n');
  expect(JSON.parse(byUpn.stdout)).toEqual(JSON.parse(byId.stdout));

  const unknown = idflow(['audit', 'nobody@contoso.example']);
  expect(unknown.status).toBe(2);
  expect(unknown.stderr).toMatch(/Entra ID has no user nobody@contoso\.example with an employee id; a person already deleted from Entra ID can only be audited by employee id/);
  expect(unknown.stdout).toBe('');
});

test('csv and markdown forms', () => {
  const csv = idflow(['audit', 'E1003', '--format', 'csv']);
  expect(csv.stdout.split('\n')[0]).toBe('time,kind,target,detail,run');
  const md = idflow(['audit', 'E1003']);
  expect(md.stdout).toMatch(/^# Access record for E1003/);
  expect(md.stdout).toMatch(/\| event \| {2}\| joiner \(event audit-joiner\), note: HR-100 \| \[run\]\(/);
});

test('export writes the stored histories and records; verify replays them against the current code', async () => {
  // Export archives closed runs: let the leaver's retention (8 s in tests) end, with Entra ID agreeing
  // that the person left (otherwise the workflow stays to keep them from being re-created).
  await new EntraAdmin().setUser('E1003', { accountEnabled: false });
  const { client, close } = await temporalClient();
  await client.workflow.getHandle('identity-E1003').result().finally(close);
  const out = mkdtempSync(join(tmpdir(), 'idflow-audit-'));
  const exp = idflow(['audit', 'export', '--since', new Date(Date.now() - 3_600_000).toISOString(), '--out', out]);
  expect(exp.stderr).toBe('');
  expect(exp.status).toBe(0);
  const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { runs: { workflowId: string }[] };
  expect(index.runs.map((r) => r.workflowId)).toContain('identity-E1003');
  expect(readdirSync(join(out, 'records'))).toContain('E1003.json');
  // Decoded personal data: the exporting user's alone.
  expect(statSync(out).mode & 0o777).toBe(0o700);
  expect(statSync(join(out, 'records', 'E1003.json')).mode & 0o777).toBe(0o600);
  expect(statSync(join(out, 'index.json')).mode & 0o777).toBe(0o600);
  // Archived as Temporal stores them: encrypted.
  const stored = readdirSync(join(out, 'histories')).map((f) => readFileSync(join(out, 'histories', f), 'utf8')).join('\n');
  expect(stored).toContain(Buffer.from('binary/encrypted').toString('base64'));
  expect(stored).not.toContain('Alvarez');

  const verify = idflow(['audit', 'verify', out]);
  expect(verify.stdout).toMatch(new RegExp(`^${index.runs.length} of ${index.runs.length} histories replay against the current code$`, 'm'));
  expect(verify.status).toBe(0);
});

test("a reconcile's writes for a person are in that person's record, each with the run it came from", async () => {
  const entra = new EntraAdmin();
  const cold = await runReconcile({ targets: ['aws'] }, `test-audit-reconcile-${Date.now()}-1`);
  const created = cold.results[0]!.written!.people.find((p) => p.ops.includes('create') && p.employeeId !== 'E1003')!;
  expect(created).toBeDefined();
  const person = created.employeeId;
  const before = await entra.call<{ jobTitle: string | null }>('GET', `/v1.0/users/${await entra.userId(person)}?$select=jobTitle`);
  await entra.setUser(person, { jobTitle: 'Audited Engineer' });
  try {
    const drift = await runReconcile({ targets: ['aws'] }, `test-audit-reconcile-${Date.now()}-2`);
    expect(drift.results[0]!.written!.people.find((p) => p.employeeId === person)).toEqual({ employeeId: person, ops: ['update'] });
    const records = JSON.parse(idflow(['audit', person, '--format', 'json']).stdout) as AuditRecord[];
    const writes = records.filter((x) => x.kind === 'write' && x.workflowId.startsWith('test-audit-reconcile-')).map((x) => `${x.workflowId.slice(-1)}|${x.target}|${x.detail}`);
    expect(writes).toEqual(expect.arrayContaining([expect.stringMatching(/^1\|aws\|reconcile wrote create/), '2|aws|reconcile wrote update']));
    // Someone the first run created and the second left alone: one write, from the first run only.
    const untouched = cold.results[0]!.written!.people.find((p) => p.employeeId !== person && !drift.results[0]!.written!.people.some((d) => d.employeeId === p.employeeId))!;
    const other = JSON.parse(idflow(['audit', untouched.employeeId, '--format', 'json']).stdout) as AuditRecord[];
    expect(other.filter((x) => x.workflowId.startsWith('test-audit-reconcile-') && x.kind === 'write').map((x) => x.workflowId.slice(-1))).toEqual(['1']);
  } finally {
    await entra.setUser(person, { jobTitle: before.jobTitle ?? null });
  }
});
