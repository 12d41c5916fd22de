import { temporal } from '@temporalio/proto';
import { codecFromEnv, decryptPayloadsDeep } from '../../encryption';
import { statusQuery } from '../../workflows/identity';
import { IdflowEmployeeId } from '../../workflows/search-attributes';
import { idflow, rawTemporalClient, resetTargets, temporalClient, testStack } from '../support/stack';

/**
 * Payload encryption end to end: what the Temporal server stores (and so its database and backups)
 * holds no personal data, while idflow's own clients read everything.
 */
const PERSONAL = ['Ada', 'Lovelace', 'ada.lovelace', 'contoso.example', 'Principal Engineer', 'Engineering', 'Cloud Admins', 'idflow-admins', 'app-engineering'];

beforeAll(async () => {
  await resetTargets();
  const r = idflow(['event', 'joiner', '--employee-id', 'E1001', '--wait']);
  expect(r.status).toBe(0);
});

async function rawHistoryText(workflowId: string): Promise<{ text: string; history: temporal.api.history.v1.IHistory }> {
  const { client, close } = await rawTemporalClient();
  try {
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const bytes = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
    return { text: `${bytes.toString('utf8')}\n${JSON.stringify(temporal.api.history.v1.History.toObject(history as temporal.api.history.v1.History))}`, history };
  } finally {
    await close();
  }
}

test("the raw history of a joiner holds none of the person's data, and decrypts with the key", async () => {
  const { text, history } = await rawHistoryText('identity-E1001');
  expect(text).toContain('binary/encrypted');
  for (const word of PERSONAL) expect({ word, found: text.includes(word) }).toEqual({ word, found: false });

  const decrypted = await decryptPayloadsDeep(history, codecFromEnv(testStack().encryption.env)!);
  const plain = JSON.stringify(temporal.api.history.v1.History.toObject(decrypted as temporal.api.history.v1.History));
  expect(Buffer.from(plain).toString('utf8')).not.toContain('binary/encrypted');
});

test('idflow clients read results and queries; search attributes stay queryable in plain text', async () => {
  const { client, close } = await temporalClient();
  try {
    const handle = client.workflow.getHandle('identity-E1001');
    const status = await handle.query(statusQuery).catch(async () => (await handle.result()));
    expect(status.employeeId).toBe('E1001');
    expect(status.recent[0]).toMatchObject({ type: 'joiner' });
    const ids: string[] = [];
    for await (const wf of client.workflow.list({ query: `IdflowEmployeeId = 'E1001'` })) ids.push(wf.workflowId);
    expect(ids).toContain('identity-E1001');
    expect((await handle.describe()).typedSearchAttributes.get(IdflowEmployeeId)).toBe('E1001');
  } finally {
    await close();
  }
});

test('without the key, runs cannot be read, and the error says why; nothing falls back to plaintext', async () => {
  const { client, close } = await rawTemporalClient();
  try {
    await expect(client.workflow.getHandle('identity-E1001').describe()).rejects.toThrow(/Unknown encoding: binary\/encrypted/);
  } finally {
    await close();
  }
  const audit = idflow(['audit', 'E1001'], undefined, { IDFLOW_ENCRYPTION_KEY_FILE: undefined, IDFLOW_ENCRYPTION_KEYS: undefined });
  expect(audit.status).toBe(1);
  expect(audit.stderr).toMatch(/payload is encrypted and no encryption key is configured \(IDFLOW_ENCRYPTION_KEYS or IDFLOW_ENCRYPTION_KEY_FILE\)/);
  expect(audit.stdout).toBe('');
});

test('production mode without a key refuses to start, naming the variables', () => {
  const r = idflow(['event', 'joiner', '--employee-id', 'E1001'], undefined, { IDFLOW_MODE: 'production', IDFLOW_ENCRYPTION_KEY_FILE: undefined, IDFLOW_ENCRYPTION_KEYS: undefined });
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/IDFLOW_ENCRYPTION_KEYS/);
  expect(r.stderr).toMatch(/IDFLOW_ENCRYPTION_KEY_FILE/);
});
