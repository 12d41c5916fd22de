import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { devCodecServerArgs, devEncryption } from '../encryption';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { choosePort, httpOk, type ManagedProcess, startProcess, stopProcess, waitUntil } from './processes';
import { type StackInfo, stackEnv, writeStackFile } from './stack-file';

const run = promisify(execFile);

export interface StackOptions {
  stateDir: string;
  /** Wanted ports; 0 picks a free one. */
  ports?: Partial<Record<'temporal' | 'temporalUi' | 'graph' | 'iam' | 'scim' | 'codec', number>>;
  /** When a wanted port is taken: use another free one (and say so) instead of failing. */
  allowOtherPorts?: boolean;
  /** Keep Temporal's state in .idflow/temporal.sqlite (dev) or in memory (tests). */
  persistTemporal?: boolean;
  ui?: boolean;
  worker?: boolean;
  users?: number;
  /** Groups in the simulated organisation (at least the ten named ones). */
  groups?: number;
  config?: string;
  /** Extra environment for the worker (e.g. short lifecycle durations in tests). */
  workerEnv?: Record<string, string>;
  /** Where to write stack.json; none when undefined. */
  stackFile?: string;
  log?: (line: string) => void;
}

export interface RunningStack {
  info: StackInfo;
  env: Record<string, string>;
  stop(): Promise<void>;
}

export const DEFAULT_PORTS = { temporal: 7233, temporalUi: 8233, graph: 8443, iam: 5055, scim: 8090, codec: 8234 } as const;

/** The project root, found from this file whether it runs from source (jest) or from dist/. */
export function projectRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the idflow project root');
    dir = up;
  }
  return dir;
}

export function toolPath(...parts: string[]): string {
  return join(projectRoot(), '.tools', ...parts);
}

/** moto's server with the IAM behaviour moto lacks and AWS documents (python/moto_iam_server.py); run with the venv's python. */
export function motoIamServer(): string {
  return join(projectRoot(), 'python', 'moto_iam_server.py');
}

/** Starts Temporal, the Entra ID simulator, moto, scim2-server and (optionally) the worker. */
export async function startStack(opts: StackOptions): Promise<RunningStack> {
  const root = projectRoot();
  const log = opts.log ?? ((line: string) => console.error(line));
  const stateDir = resolve(opts.stateDir);
  const logDir = join(stateDir, 'logs');
  // Logs, the Temporal database and the keys hold personal data and secrets: the user's alone.
  for (const dir of [stateDir, logDir]) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }
  const reserved = new Set<number>();
  const port = (name: keyof typeof DEFAULT_PORTS) => choosePort(name, opts.ports?.[name] ?? DEFAULT_PORTS[name], opts.allowOtherPorts ?? true, reserved);
  const processes: ManagedProcess[] = [];
  const stop = async () => {
    for (const p of [...processes].reverse()) await stopProcess(p);
  };

  try {
    const temporalBin = process.env.TEMPORAL_CLI_PATH ?? toolPath('bin', 'temporal');
    if (!existsSync(temporalBin)) throw new Error(`Temporal CLI not found at ${temporalBin}; run npm run setup`);
    const [temporalPort, uiPort, graphPort, iamPort, scimPort] = [await port('temporal'), await port('temporalUi'), await port('graph'), await port('iam'), await port('scim')];
    const ui = opts.ui !== false;
    const codecPort = ui ? await port('codec') : 0;
    // Payload encryption is on in the local stack too, so what you see there is what production stores.
    const encryption = devEncryption(stateDir);
    const address = `127.0.0.1:${temporalPort}`;
    const temporalArgs = temporalDevServerArgs({ port: temporalPort, ui: ui ? { port: uiPort, codecPort } : null, dbFile: opts.persistTemporal ? join(stateDir, 'temporal.sqlite') : undefined });
    const temporal = startProcess('temporal', temporalBin, temporalArgs, { logDir });
    processes.push(temporal);

    const simulatorEntry = join(root, 'dist', 'simulator', 'main.js');
    if (!existsSync(simulatorEntry)) throw new Error(`${simulatorEntry} is missing; run npm run build`);
    const simulator = startProcess('entra-simulator', process.execPath, [simulatorEntry, '--state-dir', join(stateDir, 'entra'), '--port', String(graphPort), '--users', String(opts.users ?? 300), ...(opts.groups ? ['--groups', String(opts.groups)] : [])], { logDir, redact: /"clientSecret":"[^"]*"/g });
    processes.push(simulator);
    const graphReady = waitForLine(simulator, 'stdout', 'Entra ID simulator', 60_000, simulatorReady);

    const venvBin = toolPath('venv', 'bin');
    const moto = startProcess('moto', join(venvBin, 'python'), [motoIamServer(), '-H', '127.0.0.1', '-p', String(iamPort)], { logDir });
    processes.push(moto);
    // Hex: a token that starts with '-' would be read by scim2-server as an option.
    const scimToken = randomBytes(24).toString('hex');
    // The token goes by environment, which only its owner can read; argv is anyone's (ps).
    const scim = startProcess('scim2-server', join(venvBin, 'python'), [join(root, 'python', 'scim_server.py'), '--hostname', '127.0.0.1', '--port', String(scimPort)], { logDir, env: { ...process.env, SCIM2_SERVER_BEARER_TOKEN: scimToken } });
    processes.push(scim);

    if (ui) {
      const codec = startProcess('codec-server', process.execPath, [join(root, 'bin', 'idflow'), ...devCodecServerArgs({ port: codecPort, uiPort })], { logDir, env: { ...process.env, ...encryption.env, IDFLOW_CODEC_TOKEN: encryption.codecToken } });
      processes.push(codec);
      await waitUntil('codec server', codec, () => httpOk(`http://127.0.0.1:${codecPort}/healthz`), 30_000);
    }
    const iamEndpoint = `http://127.0.0.1:${iamPort}`;
    const scimBase = `http://127.0.0.1:${scimPort}/v2`;
    await Promise.all([
      waitUntil('Temporal dev server', temporal, async () => (await run(temporalBin, ['operator', 'cluster', 'health', '--address', address])).stdout.includes('SERVING'), 30_000),
      waitUntil('moto', moto, () => httpOk(`${iamEndpoint}/moto-api/`), 30_000),
      waitUntil('scim2-server', scim, () => httpOk(`${scimBase}/ServiceProviderConfig`), 30_000),
    ]);
    const graph = await graphReady;
    const info: StackInfo = {
      temporal: { address, namespace: 'default', uiUrl: opts.ui === false ? null : `http://127.0.0.1:${uiPort}` },
      graph: {
        baseUrl: `${graph.url}/`,
        authorityHost: graph.url,
        tenantId: graph.tenantId,
        clientId: graph.clientId,
        clientSecret: graph.clientSecret,
        caFile: graph.caFile,
        clientCertificatePath: graph.clientCertificatePath,
      },
      iam: { endpoint: iamEndpoint, region: 'us-east-1' },
      scim: { baseUrl: scimBase, token: scimToken },
      encryption: { env: encryption.env, codecUrl: ui ? `http://127.0.0.1:${codecPort}` : null, codecToken: encryption.codecToken },
      config: resolve(opts.config ?? join(root, 'idflow.config.yaml')),
      pids: {},
    };
    const env = stackEnv(info);
    if (opts.worker) {
      const worker = startProcess('worker', process.execPath, [join(root, 'bin', 'idflow'), 'worker'], { logDir, env: { ...process.env, ...env, ...opts.workerEnv } });
      processes.push(worker);
      await waitForLine(worker, 'stderr', 'idflow worker', 90_000, (line) => (line.startsWith('idflow worker: task queue') ? true : undefined));
    }
    info.pids = Object.fromEntries(processes.map((p) => [p.name, p.child.pid ?? -1]));
    if (opts.stackFile) writeStackFile(info, opts.stackFile);
    return { info, env, stop: async () => {
      await stop();
      if (opts.stackFile) rmSync(opts.stackFile, { force: true });
    } };
  } catch (err) {
    log(`idflow dev: start-up failed: ${(err as Error).message}`);
    await stop();
    throw err;
  }
}

interface SimulatorReady {
  url: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  caFile: string;
  clientCertificatePath: string;
}

/** Resolves with the first line of the process's output that `match` accepts. */
function waitForLine<T>(p: ManagedProcess, stream: 'stdout' | 'stderr', what: string, timeoutMs: number, match: (line: string) => T | undefined): Promise<T> {
  return new Promise((resolveLine, reject) => {
    const lines = createInterface({ input: p.child[stream]! });
    const timer = setTimeout(() => reject(new Error(`${what} was not ready within ${timeoutMs / 1000} s; see ${p.logFile}`)), timeoutMs);
    lines.on('line', (line) => {
      const found = match(line);
      if (found === undefined) return;
      clearTimeout(timer);
      resolveLine(found);
    });
    void p.exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${what} exited during start-up; see ${p.logFile}`));
    });
  });
}

/** The simulator prints one JSON line when it listens. */
function simulatorReady(line: string): SimulatorReady | undefined {
  if (!line.startsWith('{')) return undefined;
  const parsed = JSON.parse(line) as SimulatorReady & { ready?: boolean };
  return parsed.ready ? parsed : undefined;
}

/** `temporal server start-dev` as idflow needs it: its search attributes, Updates, and the UI with the codec server (or headless). */
export function temporalDevServerArgs(opts: { port: number | string; ui: { port: number; codecPort: number } | null; dbFile?: string }): string[] {
  return [
    'server', 'start-dev', '--ip', '127.0.0.1', '--port', String(opts.port), '--log-level', 'warn',
    ...(opts.ui ? ['--ui-port', String(opts.ui.port), '--ui-codec-endpoint', `http://127.0.0.1:${opts.ui.codecPort}`] : ['--headless']),
    ...(opts.dbFile ? ['--db-filename', opts.dbFile] : []),
    ...SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=${searchAttributeType(k.type)}`]),
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
    '--dynamic-config-value', 'frontend.enableExecuteMultiOperation=true',
  ];
}

function searchAttributeType(valueType: string): string {
  const names: Record<string, string> = { KEYWORD: 'Keyword', KEYWORD_LIST: 'KeywordList', BOOL: 'Bool', TEXT: 'Text', INT: 'Int', DOUBLE: 'Double', DATETIME: 'Datetime' };
  return names[valueType.toUpperCase()] ?? valueType;
}
