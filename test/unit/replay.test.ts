import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode, Runtime, DefaultLogger, Worker, type WorkflowBundle } from '@temporalio/worker';

/**
 * Histories recorded from real runs (test/histories, see test/global-teardown.ts) replayed against
 * the current workflow code: a change that would break running workflows fails here.
 */
const dir = join(__dirname, '..', 'histories');
const workflowIds = JSON.parse(readFileSync(join(dir, 'workflow-ids.json'), 'utf8')) as Record<string, string>;
const files = readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'workflow-ids.json').sort();
let workflowBundle: WorkflowBundle;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } } });
  workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: new DefaultLogger('ERROR') });
}, 60_000);

test('recorded histories exist for every workflow type', () => {
  const kinds = new Set(files.map((f) => f.split('--')[0]));
  expect([...kinds].sort()).toEqual(['delta-sync', 'identity', 'managed-group', 'reconcile', 'revocation-guard']);
});

test.each(files)('%s replays against the current workflow code', async (file) => {
  const history = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  await Worker.runReplayHistory({ workflowBundle }, history, workflowIds[file]);
});
