import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack } from '../devstack/stack';
import { writeStackFile } from '../devstack/stack-file';
import { TEST_STACK_ENV } from './support/stack';
import { traceTimers } from './support/timer-trace';

/**
 * One real local stack for the whole run: Temporal dev server (in memory), the Entra ID simulator,
 * moto, scim2-server and an idflow worker process, all on free ports, so it never collides with `idflow dev`.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.IDFLOW_TEST_TRACE_TIMERS) traceTimers();
  const stateDir = mkdtempSync(join(tmpdir(), 'idflow-test-'));
  const started = Date.now();
  const stack = await startStack({ stateDir, ports: { temporal: 0, temporalUi: 0, graph: 0, iam: 0, scim: 0 }, ui: false, worker: true, users: 60, workerEnv: { IDFLOW_LEAVER_RETENTION: '8 seconds', IDFLOW_WAIT_FOR_SOURCE_USER: '4 seconds', IDFLOW_LEAVER_SOURCE_CHECK: '3 seconds', IDFLOW_SOURCE_LAG_WAIT: '10 seconds' }, log: (l) => process.stderr.write(`${l}\n`) });
  const stackFile = join(stateDir, 'stack.json');
  writeStackFile(stack.info, stackFile);
  process.env[TEST_STACK_ENV] = stackFile;
  process.stderr.write(`\ntest stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s (state ${stateDir})\n`);
  Object.assign(globalThis, { idflowTestStack: stack, idflowTestStateDir: stateDir });
}
