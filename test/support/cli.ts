import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../devstack/stack';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The real CLI (`bin/idflow`) as a child process, asynchronously, so several can run at once and the
 * test process (with its proxies) stays responsive. `env` replaces the environment; killed after `timeoutMs`.
 */
export function runIdflow(args: string[], env: NodeJS.ProcessEnv, opts: { input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(projectRoot(), 'bin', 'idflow'), ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 180_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin.on('error', () => undefined); // the CLI may exit before reading everything
    child.stdin.end(opts.input ?? '');
  });
}

/** The environment with `overrides` applied; an undefined value removes the variable. */
export function withOverrides(base: NodeJS.ProcessEnv, overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, ...overrides };
  for (const [k, v] of Object.entries(overrides)) if (v === undefined) delete env[k];
  return env;
}
