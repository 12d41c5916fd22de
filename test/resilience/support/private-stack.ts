import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { GetAccountAuthorizationDetailsCommand, type GetAccountAuthorizationDetailsCommandOutput, IAMClient } from '@aws-sdk/client-iam';
import { Client, Connection } from '@temporalio/client';
import { type ManagedProcess, startProcess, stopProcess, waitUntil } from '../../../devstack/processes';
import { projectRoot, type RunningStack, startStack, temporalDevServerArgs, toolPath } from '../../../devstack/stack';
import { type StackInfo, stackEnv } from '../../../devstack/stack-file';
import type { TargetPlan } from '../../../domain/reconcile';
import { dataConverterFromEnv } from '../../../encryption';
import { SimulatorClient } from '../../../simulator/admin-client';
import { type CliResult, runIdflow, withOverrides } from '../../support/cli';
import { TargetProxy, WriteCounter } from './proxy';

const run = promisify(execFile);

export interface WorkerHandle {
  name: string;
  queue: string;
  process: ManagedProcess;
  iam: TargetProxy;
  scim: TargetProxy;
  counter: WriteCounter;
}

/** What the targets hold, read directly (not through the proxies). */
export interface TargetSnapshot {
  iam: { users: { userName: string; employeeId: string | null; groups: string[] }[]; groups: string[] };
  scim: { users: { id: string; userName: string; externalId: string | null; active: boolean }[]; groups: { id: string; displayName: string; members: string[] }[] };
}

/**
 * A second, private local stack for destructive cases: its own Temporal dev server (SQLite, so it
 * survives a restart), Entra ID simulator, moto and scim2-server, and workers this file starts and
 * kills itself. Each worker reaches the targets through its own counting proxies and runs with a
 * distinctive AWS secret key, so the secrets scan can look for it.
 */
export class PrivateStack {
  readonly awsAccessKeyId = `AKIARES${randomBytes(8).toString('hex').toUpperCase().slice(0, 13)}`;
  readonly awsSecretAccessKey = randomBytes(30).toString('base64').replace(/[+/=]/g, 'x').slice(0, 40);
  readonly workers: WorkerHandle[] = [];
  /** Everything the CLI printed, for the secrets scan. */
  readonly cliOutput: string[] = [];
  private temporal: ManagedProcess | null = null;
  private connection: Connection | null = null;
  private clientCache: Client | null = null;
  private workerSeq = 0;
  private simulator: SimulatorClient | null = null;
  private readonly iamDirect: IAMClient;

  private constructor(
    readonly name: string,
    readonly stateDir: string,
    readonly running: RunningStack,
    private readonly random: () => number,
  ) {
    this.iamDirect = new IAMClient({ endpoint: this.info.iam.endpoint, region: this.info.iam.region, credentials: { accessKeyId: this.awsAccessKeyId, secretAccessKey: this.awsSecretAccessKey }, maxAttempts: 3 });
  }

  static async start(name: string, random: () => number, users = 60): Promise<PrivateStack> {
    const stateDir = mkdtempSync(join(tmpdir(), `idflow-resilience-${name}-`));
    const running = await startStack({
      stateDir,
      ports: { temporal: 0, temporalUi: 0, graph: 0, iam: 0, scim: 0, codec: 0 },
      ui: false,
      worker: false,
      persistTemporal: true,
      users,
      log: (l) => process.stderr.write(`[${name}] ${l}\n`),
    });
    return new PrivateStack(name, stateDir, running, random);
  }

  get info(): StackInfo {
    return this.running.info;
  }

  get logDir(): string {
    return join(this.stateDir, 'logs');
  }

  /** Starts a worker on `queue` behind fresh proxies (or the given ones) and waits until it polls. */
  async startWorker(queue: string, proxies?: { iam: TargetProxy; scim: TargetProxy; counter: WriteCounter }): Promise<WorkerHandle> {
    const counter = proxies?.counter ?? new WriteCounter();
    const iam = proxies?.iam ?? new TargetProxy('iam', this.info.iam.endpoint, this.random, counter);
    const scim = proxies?.scim ?? new TargetProxy('scim', new URL(this.info.scim.baseUrl).origin, this.random, counter);
    if (!proxies) await Promise.all([iam.start(), scim.start()]);
    const name = `worker-${queue}-${++this.workerSeq}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...stackEnv(this.info),
      IDFLOW_TASK_QUEUE: queue,
      IDFLOW_IAM_ENDPOINT: iam.origin,
      AWS_ENDPOINT_URL_IAM: iam.origin,
      IDFLOW_SCIM_URL: `${scim.origin}${new URL(this.info.scim.baseUrl).pathname}`,
      AWS_ACCESS_KEY_ID: this.awsAccessKeyId,
      AWS_SECRET_ACCESS_KEY: this.awsSecretAccessKey,
      IDFLOW_LEAVER_RETENTION: '8 seconds',
      IDFLOW_WAIT_FOR_SOURCE_USER: '4 seconds',
      IDFLOW_STATE_DIR: join(this.stateDir, 'worker-state'),
    };
    const p = startProcess(name, process.execPath, [join(projectRoot(), 'bin', 'idflow'), 'worker'], { logDir: this.logDir, env });
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: p.child.stderr! });
      const timer = setTimeout(() => reject(new Error(`${name} was not ready within 90 s; see ${p.logFile}`)), 90_000);
      lines.on('line', (line) => {
        if (!line.startsWith('idflow worker: task queue')) return;
        clearTimeout(timer);
        resolve();
      });
      void p.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${name} exited during start-up; see ${p.logFile}`));
      });
    });
    const handle = { name, queue, process: p, iam, scim, counter };
    this.workers.push(handle);
    return handle;
  }

  /** SIGKILL: no drain, no goodbye; whatever it was doing is lost. */
  kill(worker: WorkerHandle): void {
    worker.process.child.kill('SIGKILL');
  }

  async stopWorker(worker: WorkerHandle): Promise<void> {
    await stopProcess(worker.process);
  }

  /**
   * Stops the Temporal dev server (SIGTERM), waits `downMs`, and starts it again on the same port
   * with the same SQLite database. The arguments mirror devstack/stack.ts (headless, persistent).
   */
  async restartTemporal(downMs: number): Promise<void> {
    await this.closeClient();
    if (this.temporal) await stopProcess(this.temporal);
    else {
      const pid = this.info.pids.temporal;
      if (!pid || pid < 0) throw new Error('no pid for the private Temporal server');
      process.kill(pid, 'SIGTERM');
      await waitFor(`Temporal pid ${pid} to exit`, () => !alive(pid), 30_000);
    }
    await new Promise((r) => setTimeout(r, downMs));
    const port = this.info.temporal.address.split(':').pop()!;
    const args = temporalDevServerArgs({ port, ui: null, dbFile: join(this.stateDir, 'temporal.sqlite') });
    const bin = process.env.TEMPORAL_CLI_PATH ?? toolPath('bin', 'temporal');
    this.temporal = startProcess('temporal-restarted', bin, args, { logDir: this.logDir });
    await waitUntil('restarted Temporal dev server', this.temporal, async () => (await run(bin, ['operator', 'cluster', 'health', '--address', this.info.temporal.address])).stdout.includes('SERVING'), 60_000);
  }

  /** A client with the stack's codec, like every idflow process. */
  async client(): Promise<Client> {
    if (this.clientCache) return this.clientCache;
    this.connection = await Connection.connect({ address: this.info.temporal.address });
    this.clientCache = new Client({ connection: this.connection, namespace: this.info.temporal.namespace, dataConverter: dataConverterFromEnv(this.info.encryption.env) });
    return this.clientCache;
  }

  async closeClient(): Promise<void> {
    const c = this.connection;
    this.connection = null;
    this.clientCache = null;
    await c?.close().catch(() => undefined);
  }

  /** The real CLI against this stack (async: the proxies live in this process). Targets are read directly. */
  async cli(args: string[], opts: { input?: string; env?: Record<string, string | undefined> } = {}): Promise<CliResult> {
    const env = withOverrides({ ...process.env, ...stackEnv(this.info), AWS_ACCESS_KEY_ID: this.awsAccessKeyId, AWS_SECRET_ACCESS_KEY: this.awsSecretAccessKey, IDFLOW_STATE_DIR: join(this.stateDir, 'cli') }, opts.env);
    const result = await runIdflow(args, env, { input: opts.input });
    this.cliOutput.push(result.stdout, result.stderr);
    return result;
  }

  /** `idflow plan --json`: what a reconcile would still change. */
  async plan(): Promise<TargetPlan[]> {
    const r = await this.cli(['plan', '--json']);
    if (r.status !== 0) throw new Error(`idflow plan failed (${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout) as TargetPlan[];
  }

  /** Both targets back to empty, the directory back to its seed, faults cleared. */
  async reset(): Promise<void> {
    const res = await fetch(`${this.info.iam.endpoint}/moto-api/reset`, { method: 'POST' });
    if (!res.ok) throw new Error(`moto reset failed: ${res.status}`);
    const { baseUrl, token } = this.info.scim;
    const headers = { authorization: `Bearer ${token}`, accept: 'application/scim+json' };
    for (const resource of ['Users', 'Groups']) {
      for (;;) {
        const page = (await (await fetch(`${baseUrl}/${resource}?count=200&attributes=id`, { headers })).json()) as { Resources?: { id: string }[] };
        if (!page.Resources?.length) break;
        await Promise.all(page.Resources.map((r) => fetch(`${baseUrl}/${resource}/${r.id}`, { method: 'DELETE', headers }).then((d) => d.body?.cancel())));
      }
    }
    await this.graph('POST', '/_admin/reset');
    for (const w of this.workers) {
      w.iam.clearFaults();
      w.scim.clearFaults();
    }
  }

  async snapshot(): Promise<TargetSnapshot> {
    const users: TargetSnapshot['iam']['users'] = [];
    const groups: string[] = [];
    let Marker: string | undefined;
    do {
      const page: GetAccountAuthorizationDetailsCommandOutput = await this.iamDirect.send(new GetAccountAuthorizationDetailsCommand({ Filter: ['User', 'Group'], MaxItems: 1000, Marker }));
      for (const u of page.UserDetailList ?? []) {
        if (u.Path !== '/idflow/') continue;
        users.push({ userName: u.UserName!, employeeId: u.Tags?.find((t) => t.Key === 'idflow:employee-id')?.Value ?? null, groups: [...(u.GroupList ?? [])].sort() });
      }
      for (const g of page.GroupDetailList ?? []) groups.push(g.GroupName!);
      Marker = page.IsTruncated ? page.Marker : undefined;
    } while (Marker);
    const { baseUrl, token } = this.info.scim;
    const headers = { authorization: `Bearer ${token}`, accept: 'application/scim+json' };
    const scimUsers = ((await (await fetch(`${baseUrl}/Users?count=1000`, { headers })).json()) as { Resources?: Record<string, unknown>[] }).Resources ?? [];
    const scimGroups = ((await (await fetch(`${baseUrl}/Groups?count=1000`, { headers })).json()) as { Resources?: { id: string; displayName: string; members?: { value: string }[] }[] }).Resources ?? [];
    return {
      iam: { users: users.sort((a, b) => a.userName.localeCompare(b.userName)), groups: groups.sort() },
      scim: {
        users: scimUsers.map((u) => ({ id: String(u.id), userName: String(u.userName), externalId: typeof u.externalId === 'string' ? u.externalId : null, active: u.active !== false })),
        groups: scimGroups.map((g) => ({ id: g.id, displayName: g.displayName, members: (g.members ?? []).map((m) => m.value) })),
      },
    };
  }

  /** The simulator's Graph and admin API (fault injection), with a token from its own authority. */
  async graph<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    this.simulator ??= new SimulatorClient(this.info.graph);
    return this.simulator.call<T>(method, path, body);
  }

  async stop(): Promise<void> {
    await this.closeClient();
    for (const w of this.workers) {
      await stopProcess(w.process, 5_000);
      await Promise.all([w.iam.close(), w.scim.close()]);
    }
    if (this.temporal) await stopProcess(this.temporal);
    await this.running.stop();
  }

  /** Removes the state directory (call after the secrets scan has read the logs). */
  removeState(): void {
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitFor(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
