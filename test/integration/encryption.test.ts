/**
 * End-to-end encryption tests (issue 8). To be wired by the lead once the worker, the CLI and
 * test/support/stack.ts use `dataConverterFromEnv` and the test stack exports
 * IDFLOW_ENCRYPTION_KEY_FILE (see docs/encryption.md, "Wiring").
 *
 * Shape of the main test: run a joiner through the CLI (`idflow event joiner --employee-id E1001 --wait`),
 * then
 *   const plain = new Client({ connection });                       // no dataConverter: raw bytes
 *   const history = await plain.workflow.getHandle(`identity-E1001`).fetchHistory();
 *   const text = Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('utf8');
 * and assert that `text` (and JSON.stringify(History.toObject(history))) contains none of the person's
 * names ('Ada', 'Lovelace', 'Ada Lovelace'), email ('ada.lovelace@contoso.example'), title, department,
 * source group names or target group names ('idflow-admins', 'app-engineering', …), while
 * `decryptPayloadsDeep(history, codecFromEnv(stackEnv(testStack()))!)` makes them readable again and a
 * client built with `dataConverterFromEnv(...)` gets the workflow result and status query.
 */
describe('payload encryption, end to end', () => {
  test.todo('the raw history of a joiner run (read by a client without the codec) contains no names, email, title, department or group names');
  test.todo('the same history decrypts with decryptPayloadsDeep and the configured keyring; a client with the codec reads result, memo and status query');
  test.todo('search attributes (EmployeeId, lifecycle state) stay plaintext and a visibility query by employee id still finds the run');
  test.todo('an activity failure message with personal data is stored as "Encoded failure"; the client with the codec sees the real message');
  test.todo('a CLI command without the key (IDFLOW_ENCRYPTION_KEYS unset, key file unset) against an encrypted run fails with the "not in the keyring"/"no encryption key" error, never prints ciphertext');
  test.todo('rotation: restart the worker with a new current key (old key kept); a run started before and one started after both complete and decrypt; removing the old key makes the old run fail to decode with an error naming its key id');
  test.todo('IDFLOW_MODE=production without a key: `idflow worker` and `idflow event` exit 1 with the message naming IDFLOW_ENCRYPTION_KEYS and IDFLOW_ENCRYPTION_KEY_FILE');
  test.todo('codec server of the stack: POST /decode of a raw history payload with Origin = the UI origin (dev trust) returns the plaintext; without Origin and token → 401');
});
