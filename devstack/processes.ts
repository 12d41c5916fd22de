import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A child process of the local stack, its output in .idflow/logs/<name>.log. */
export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
}

export function startProcess(name: string, command: string, args: string[], opts: { logDir: string; env?: NodeJS.ProcessEnv; cwd?: string; redact?: RegExp }): ManagedProcess {
  mkdirSync(opts.logDir, { recursive: true, mode: 0o700 });
  const logFile = join(opts.logDir, `${name}.log`);
  const log = createWriteStream(logFile, { flags: 'a', mode: 0o600 });
  // A log left by an earlier run keeps its mode when appended to.
  if (existsSync(logFile)) chmodSync(logFile, 0o600);
  const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  // Output that carries a secret (the simulator's ready line) reaches the log with it masked.
  const redact = opts.redact;
  if (redact) child.stdout!.on('data', (chunk: Buffer) => log.write(chunk.toString('utf8').replace(redact, (m) => `${m.slice(0, m.indexOf(':') + 1)}"[redacted]"`)));
  else child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (err) => {
      log.write(`failed to start: ${err.message}\n`);
      resolve(-1);
    });
    child.once('exit', (code, signal) => {
      log.end(`exited with ${signal ?? code}\n`);
      resolve(code);
    });
  });
  return { name, child, logFile, exited };
}

/** SIGTERM, then SIGKILL after the grace period: no orphans are left behind. */
export async function stopProcess(p: ManagedProcess, graceMs = 10_000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(timer);
}

export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * The wanted port if it is free; otherwise a free one when allowed, or a clear error naming the port.
 * Port 0 always means "any free port".
 */
export async function choosePort(service: string, wanted: number, allowOther: boolean, reserved: Set<number>): Promise<number> {
  if (wanted !== 0 && !reserved.has(wanted) && (await isPortFree(wanted))) {
    reserved.add(wanted);
    return wanted;
  }
  if (wanted !== 0 && !allowOther) throw new Error(`port ${wanted} for ${service} is already in use; free it or pass another port`);
  for (;;) {
    const port = await freePort();
    if (!reserved.has(port)) {
      reserved.add(port);
      if (wanted !== 0) console.error(`idflow dev: port ${wanted} for ${service} is in use; using ${port}`);
      return port;
    }
  }
}

/** Polls until `ready` resolves true, the process dies, or the deadline passes. */
export async function waitUntil(what: string, p: ManagedProcess | null, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void p?.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${what} exited during start-up; see ${p!.logFile}`);
    if (await ready().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${what} was not ready within ${Math.round(timeoutMs / 1000)} s${p ? `; see ${p.logFile}` : ''}`);
}

export async function httpOk(url: string, headers: Record<string, string> = {}): Promise<boolean> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(2000) });
  await res.body?.cancel();
  return res.ok;
}
