/** The CLI entry point (simulator/main.ts), run as a real child process. */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ts from 'typescript';
import type { RunningSimulator } from '../../simulator';
import { rawRequest, SHARED_STATE_DIR } from './harness';

const root = path.resolve(__dirname, '../..');
const outDir = mkdtempSync(path.join(os.tmpdir(), 'idflow-sim-cli-'));

beforeAll(() => {
  // Transpile simulator/*.ts (the repo's `npm run build` does the same into dist/).
  const src = path.join(root, 'simulator');
  mkdirSync(path.join(outDir, 'simulator'), { recursive: true });
  for (const f of readdirSync(src).filter((x) => x.endsWith('.ts'))) {
    const out = ts.transpileModule(readFileSync(path.join(src, f), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    writeFileSync(path.join(outDir, 'simulator', f.replace(/\.ts$/, '.js')), out.outputText);
  }
});
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

test('prints one ready JSON line, logs requests to stderr without secrets, exits cleanly on SIGTERM', async () => {
  const child = spawn(process.execPath, [path.join(outDir, 'simulator', 'main.js'), '--state-dir', SHARED_STATE_DIR, '--port', '0', '--users', '25', '--seed', '42'], {
    env: { ...process.env, NODE_PATH: path.join(root, 'node_modules') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const nl = stdout.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(stdout.slice(0, nl)) as Record<string, unknown>);
    });
    child.on('exit', (code) => reject(new Error(`exited early with ${code}: ${stderr}`)));
  });
  expect(ready).toMatchObject({ ready: true, users: 25 });
  for (const k of ['url', 'tenantId', 'clientId', 'clientSecret', 'clientCertificatePath', 'caFile']) expect(typeof ready[k]).toBe('string');
  expect(String(ready.url)).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  // credentials.json is private and the secret is reused
  expect(statSync(path.join(SHARED_STATE_DIR, 'credentials.json')).mode & 0o777).toBe(0o600);
  expect(statSync(path.join(SHARED_STATE_DIR, 'ca.key')).mode & 0o777).toBe(0o600);
  expect(JSON.parse(readFileSync(path.join(SHARED_STATE_DIR, 'credentials.json'), 'utf8')).clientSecret).toBe(ready.clientSecret);

  const sim = { url: ready.url, caPem: readFileSync(String(ready.caFile), 'utf8') } as RunningSimulator;
  const tok = await rawRequest(sim, 'POST', `/${String(ready.tenantId)}/oauth2/v2.0/token`, {
    form: { grant_type: 'client_credentials', client_id: String(ready.clientId), client_secret: String(ready.clientSecret), scope: 'https://graph.microsoft.com/.default' },
  });
  expect(tok.status).toBe(200);
  const users = await rawRequest(sim, 'GET', '/v1.0/users?$select=id', { token: tok.json.access_token });
  expect(users.json.value).toHaveLength(25);

  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  expect(await exit).toBe(0);
  expect(stdout.trim().split('\n')).toHaveLength(1);
  const lines = stderr.trim().split('\n');
  expect(lines.some((l) => /POST \/[0-9a-f-]+\/oauth2\/v2\.0\/token 200 \d+ms/.test(l))).toBe(true);
  expect(lines.some((l) => /GET \/v1\.0\/users\?\$select=id 200 \d+ms/.test(l))).toBe(true);
  expect(stderr).not.toContain(String(ready.clientSecret));
  expect(stderr).not.toContain(tok.json.access_token);
});
