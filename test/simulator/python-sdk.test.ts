/* eslint-disable @typescript-eslint/no-explicit-any -- the Python check's result is parsed JSON */
/**
 * Microsoft's Python Graph SDK (msgraph-sdk + azure-identity, pinned in python/requirements.txt and installed by
 * scripts/setup.sh into .tools/venv), unchanged, against the simulator: users paged, users delta in two rounds
 * around an admin change, a group's transitive members (and the `graph.user` cast), with a client secret and
 * with a certificate. The Python side is test/simulator/python/graph_sdk_check.py; here we check its answers
 * against the directory and the simulator's request log.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Harness, startHarness } from './harness';

const ROOT = path.resolve(__dirname, '../..');
const PYTHON = path.join(ROOT, '.tools/venv/bin/python');
const SCRIPT = path.join(__dirname, 'python/graph_sdk_check.py');
const USERS = 24;
const TOP = 5;
const GROUP = 'Engineering';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function python(args: string[], input: string, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    // Asynchronous on purpose: the simulator answers from this same process.
    const child = spawn(PYTHON, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** The pins of python/requirements.txt, e.g. { 'msgraph-sdk': '1.65.0' }. */
function pinned(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path.join(ROOT, 'python/requirements.txt'), 'utf8').split('\n')) {
    const m = /^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ users: USERS });
});
afterAll(async () => {
  await h.close();
});

test('the venv holds the pinned msgraph-sdk and azure-identity (scripts/setup.sh installs them)', async () => {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run bash scripts/setup.sh (it creates .tools/venv from python/requirements.txt)`);
  const pins = pinned();
  expect(pins['msgraph-sdk']).toBeDefined();
  expect(pins['azure-identity']).toBeDefined();
  const r = await python(['-c', 'import json, importlib.metadata as m, msgraph, azure.identity; print(json.dumps({p: m.version(p) for p in ("msgraph-sdk", "azure-identity")}))'], '');
  if (r.code !== 0) throw new Error(`msgraph-sdk / azure-identity are not importable from ${PYTHON}: run bash scripts/setup.sh\n${r.stderr}`);
  expect(JSON.parse(r.stdout)).toEqual({ 'msgraph-sdk': pins['msgraph-sdk'], 'azure-identity': pins['azure-identity'] });
});

test('msgraph-sdk with ClientSecretCredential and CertificateCredential: paging, delta in two rounds, transitive members', async () => {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run bash scripts/setup.sh (it installs msgraph-sdk and azure-identity)`);
  const { sim } = h;
  const dir = sim.directory;
  const before = sim.requests.last;
  const access = { url: sim.url, tenantId: sim.tenantId, clientId: sim.clientId, clientSecret: sim.clientSecret, clientCertificatePath: sim.clientCertificatePath, caFile: sim.caFile };
  // The CA is trusted the documented way: SSL_CERT_FILE (httpx, aiohttp) and REQUESTS_CA_BUNDLE (requests, MSAL).
  const noProxy = [process.env.NO_PROXY ?? process.env.no_proxy, '127.0.0.1', 'localhost'].filter(Boolean).join(',');
  const env = { ...process.env, SSL_CERT_FILE: sim.caFile, REQUESTS_CA_BUNDLE: sim.caFile, NO_PROXY: noProxy, no_proxy: noProxy };
  const started = Date.now();
  const r = await python([SCRIPT, '-', '--top', String(TOP), '--group', GROUP], `${JSON.stringify(access)}\n`, env);
  const seconds = (Date.now() - started) / 1000;
  if (r.code !== 0) throw new Error(`graph_sdk_check.py exited ${r.code} after ${seconds.toFixed(1)} s\n${r.stderr.slice(-4000)}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as any;
  expect(out.ok).toBe(true);

  const runs = out.runs as any[];
  expect(runs.map((x) => [x.credential, x.appidacr, x.syncAppidacr])).toEqual([
    ['secret', '1', '1'],
    ['certificate', '2', '2'],
  ]);

  // Listing: every live user, in pages of TOP (the certificate run counts the pages it followed).
  for (const x of runs) expect(x.users).toMatchObject({ expected: USERS, listed: USERS, top: TOP });
  expect(runs[0].users).toMatchObject({ followed: 'PageIterator', pages: null });
  expect(runs[1].users).toMatchObject({ followed: 'odata_next_link', pages: Math.ceil(USERS / TOP) });

  // Delta: round 1 is everyone (paged by Prefer: odata.maxpagesize), round 2 exactly the admin change, round 3 nothing.
  for (const x of runs) {
    expect(x.delta.round1).toEqual({ users: USERS, pages: Math.ceil(USERS / TOP) });
    expect(x.delta.round2.users).toEqual([x.delta.change.id]);
    expect(x.delta.round3).toEqual({ users: 0 });
  }
  const [secretChange, certChange] = runs.map((x) => x.delta.change);
  expect(secretChange.op).toBe('update');
  expect(dir.getUser(secretChange.id)?.props.jobTitle).toBe(secretChange.jobTitle);
  expect(certChange.op).toBe('create');
  expect(dir.getUser(certChange.id)?.props.displayName).toBe(certChange.displayName);

  // Transitive members of Engineering (which nests Platform Team), as the directory has them.
  const group = dir.groupByName(GROUP)!;
  const transitive = dir.transitiveMembers(group.id);
  const ids = (type: string) => transitive.filter((o) => o.type === type).map((o) => o.id).sort();
  expect(ids('group')).toEqual([dir.groupByName('Platform Team')!.id]);
  for (const x of runs) {
    expect(x.transitive).toMatchObject({ groupId: group.id, users: ids('user'), groups: ids('group'), others: ['#microsoft.graph.device'] });
    // A full page always has a nextLink (the last page may be empty), so n users take floor(n / TOP) + 1 pages.
    expect(x.transitive.castPages).toBe(Math.floor(ids('user').length / TOP) + 1);
  }

  // What the SDK sent: the kiota-style cast, delta(), nextLinks; and no request was refused along the way.
  const log = sim.requests.since(before);
  const graph = log.filter((e) => e.area === 'graph');
  expect(graph.filter((e) => e.status !== 200).map((e) => `${e.method} ${e.path} ${e.status}`)).toEqual([]);
  expect(log.filter((e) => e.area === 'token').every((e) => e.status === 200)).toBe(true);
  expect(graph.filter((e) => e.path.startsWith(`/v1.0/groups/${group.id}/transitiveMembers/graph.user?`))).toHaveLength(2);
  expect(graph.filter((e) => e.path.startsWith('/v1.0/users/delta()?'))).toHaveLength(2);
  expect(graph.filter((e) => /^\/v1\.0\/users\?.*\$top=5/.test(e.path))).toHaveLength(2 * Math.ceil(USERS / TOP));
  process.stderr.write(`python-sdk: graph_sdk_check.py ran in ${seconds.toFixed(1)} s (${log.length} requests)\n`);
}, 120_000);
