import type { RevocationAnswer, RevocationDecision } from '../contracts/revocation-guard';
import type { RevocationPermitInput } from '../activities/revocation-guard';
import type { AppliedAction, ProvisionResult, TargetDecision, VerifyResult } from '../activities/identity';
import type { RevokeInput, RevokeResult, SourceIdsResult } from '../activities/revoke';
import type { Action } from '../domain/plan';
import type { IdentityEvent } from '../domain/events';
import { readPerson, type RecordedPerson } from '../domain/person';

/** One history event with its payloads decoded (see audit.ts). */
export type DecodedEvent =
  | { id: number; time: string; kind: 'signal' | 'scheduled' | 'update'; name: string; values: unknown[] }
  | { id: number; time: string; kind: 'completed'; scheduledId: number; values: unknown[] }
  | { id: number; time: string; kind: 'failed'; scheduledId: number; message: string };

export interface AuditRecord {
  time: string;
  kind: 'event' | 'fetch' | 'decision' | 'plan' | 'finding' | 'write' | 'verify' | 'failure';
  target?: string;
  detail: string;
  workflowId: string;
  runId: string;
  link: string;
}

/**
 * An identity workflow's history as an access record: every event, every decision (scope and match),
 * every planned action with its reason, every write and every verification, each timed.
 */
export function auditRecords(events: DecodedEvent[], run: { workflowId: string; runId: string; link: string }): AuditRecord[] {
  const records: AuditRecord[] = [];
  const add = (time: string, kind: AuditRecord['kind'], detail: string, target?: string) => records.push({ time, kind, detail, ...(target ? { target } : {}), ...run });
  const scheduled = new Map<number, { name: string; input: unknown }>();
  for (const e of events) {
    if (e.kind === 'signal' && e.name === 'revocationDecision') {
      const d = e.values[0] as RevocationDecision | undefined;
      if (d) add(e.time, 'decision', `held revocation ${d.approved ? 'approved' : 'rejected'} by ${d.by}${d.note ? ` (${d.note})` : ''}, held set digest ${d.digest}`);
    } else if (e.kind === 'signal') {
      const ev = e.values[0] as IdentityEvent | undefined;
      if (ev) add(e.time, 'event', `${ev.type}${'eventId' in ev && ev.eventId ? ` (event ${ev.eventId})` : ''}${'effectiveAt' in ev && ev.effectiveAt ? `, effective ${ev.effectiveAt}` : ''}${'note' in ev && ev.note ? `, note: ${ev.note}` : ''}`);
    } else if (e.kind === 'scheduled') {
      scheduled.set(e.id, { name: e.name, input: e.values[0] });
    } else if (e.kind === 'failed') {
      add(e.time, 'failure', `${scheduled.get(e.scheduledId)?.name ?? 'activity'} failed: ${e.message}`, targetOf(scheduled.get(e.scheduledId)?.input));
    } else if (e.kind === 'completed') {
      const act = scheduled.get(e.scheduledId);
      if (!act) continue;
      const result = e.values[0];
      if (act.name === 'fetchIdentity') {
        const id = result ? readPerson(result as RecordedPerson) : null;
        add(e.time, 'fetch', id ? `source: ${id.login}, ${id.enabled ? 'enabled' : 'disabled'}, attributes ${Object.keys(id.attributes).sort().join(',')}, groups ${id.groups.map((g) => g.displayName).join(', ') || '-'}` : 'source: not found');
      } else if (act.name === 'transformIdentity') {
        for (const d of (result as { decisions: TargetDecision[] }).decisions) add(e.time, 'decision', describeDecision(d), d.target);
      } else if (act.name === 'provisionAccount') {
        const r = result as ProvisionResult;
        if (r.groupsToCreate?.length) {
          // Nothing was applied: the groups' own workflows create them, then provisioning runs again.
          add(e.time, 'plan', `groups ${r.groupsToCreate.map((g) => g.group).join(', ')} do not exist yet: created by their managed-group workflows (${r.groupsToCreate.map((g) => g.workflowId).join(', ')}), then planned again`, r.target);
          continue;
        }
        for (const a of r.plan.actions) add(e.time, 'plan', describeAction(a), r.target);
        for (const f of r.plan.findings) add(e.time, 'finding', `${f.kind}: ${f.detail}`, r.target);
        for (const w of r.applied) add(e.time, 'write', describeWrite(w), r.target);
      } else if (act.name === 'requestRevocationPermit') {
        const r = result as RevocationAnswer;
        add(e.time, 'decision', r.granted ? `mass-revocation guard: allowed (${(act.input as RevocationPermitInput).reason})` : `mass-revocation guard: held for approval: ${r.reason}`);
      } else if (act.name === 'leaverSourceIds') {
        const r = result as SourceIdsResult;
        add(e.time, 'fetch', r.sourceError ? `Entra ID did not answer (${r.sourceError}); accounts found by idflow's markers` : `Entra ID: ${r.sourceIds.length} user${r.sourceIds.length === 1 ? '' : 's'} with this employee id${r.sourceIds.length ? ` (${r.sourceIds.join(', ')})` : ''}`);
      } else if (act.name === 'revokeAccounts') {
        const input = act.input as RevokeInput;
        const r = result as RevokeResult;
        add(e.time, 'decision', `no account wanted: ${input.reason} (${input.policy})`, r.target);
        for (const a of r.accounts) {
          for (const p of a.planned ?? []) add(e.time, 'plan', describeAction(p), r.target);
          for (const w of a.applied) add(e.time, 'write', describeWrite(w), r.target);
        }
        for (const f of r.findings) add(e.time, 'finding', f, r.target);
        for (const x of r.residual) add(e.time, 'finding', `residual access: ${x}`, r.target);
        add(e.time, 'verify', r.accounts.length ? `revoke confirmed on read-back: ${r.accounts.map((a) => a.userName).join(', ')}` : 'no account of the person found', r.target);
      } else if (act.name === 'verifyAccount') {
        const v = result as VerifyResult;
        add(e.time, 'verify', v.verified ? 'target matches the desired state' : `${v.differences.length} differences: ${v.differences.map(describeAction).join('; ')}`, v.target);
      }
    }
  }
  return records;
}

function describeDecision(d: TargetDecision): string {
  if (d.problems?.length) return `invalid: ${d.problems.join('; ')}`;
  if (d.desired) return `in scope: account ${d.desired.userName}, ${d.desired.enabled ? 'enabled' : 'disabled'}, groups ${d.desired.groups.join(', ') || '-'}`;
  return `no account wanted: ${d.absentReason ?? 'unknown'}${d.absentPolicy ? ` (${d.absentPolicy})` : ''}`;
}

function describeWrite(w: AppliedAction): string {
  return `${w.op} ${w.userName}${w.group ? ` ${w.group}` : ''}${w.detail ? ` ${JSON.stringify(w.detail)}` : ''}`;
}

function describeAction(a: Action): string {
  const what = 'group' in a ? ` ${a.group}` : a.op === 'update' ? ` ${a.changes.map((c) => `${c.attribute}: ${c.from ?? '-'} -> ${c.to ?? '-'}`).join('; ')}` : '';
  return `${a.op} ${a.userName}${what} (${a.reason})`;
}

function targetOf(input: unknown): string | undefined {
  return typeof input === 'object' && input !== null && 'target' in input ? String((input as { target: unknown }).target) : undefined;
}
