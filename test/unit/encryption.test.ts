import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { defaultPayloadConverter, type FailureConverter, type Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import {
  AesGcmCodec,
  createKeyring,
  dataConverterFromEnv,
  decodePayloadValues,
  decryptPayloadsDeep,
  devCodecServerArgs,
  devEncryption,
  EncryptionConfigError,
  ensureDevKeyFile,
  FAILURE_CONVERTER_PATH,
  generateKey,
  isEncryptedPayload,
  loadKeyring,
  parseKeyList,
  PayloadDecryptionError,
  promoteKeyFile,
  readKeyFile,
  rotateKeyFile,
} from '../../encryption';

const K1 = randomBytes(32).toString('base64');
const K2 = randomBytes(32).toString('base64');

/** A joiner's data: none of these strings may appear in an encrypted payload. */
const PERSON = {
  employeeId: 'E100234',
  givenName: 'Zoë',
  surname: 'Ångström-Okafor',
  displayName: 'Zoë Ångström-Okafor',
  mail: 'zoe.angstrom-okafor@contoso.example',
  groups: ['GRP-Finance-Approvers', 'GRP-Payroll-Admins'],
};
const SECRETS = [PERSON.givenName, PERSON.surname, PERSON.mail, ...PERSON.groups, 'json/plain', 'displayName'];

const toPayload = (v: unknown) => defaultPayloadConverter.toPayload(v);
const fromPayload = (p: Payload) => defaultPayloadConverter.fromPayload(p);
const asText = (p: Payload) =>
  [Buffer.from(p.data ?? []).toString('utf8'), Buffer.from(p.data ?? []).toString('latin1'), ...Object.values(p.metadata ?? {}).map((v) => Buffer.from(v).toString('utf8'))].join('\n');
const meta = (p: Payload, k: string) => Buffer.from(p.metadata?.[k] ?? []).toString('utf8');
const codecWith = (current: string, keys: Record<string, string>) => new AesGcmCodec(createKeyring({ current, keys }));

function expectError(fn: () => unknown, pattern: RegExp, type: new (...args: never[]) => Error = EncryptionConfigError): Error {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(type);
  expect((caught as Error).message).toMatch(pattern);
  return caught as Error;
}

describe('keyring', () => {
  test('IDFLOW_ENCRYPTION_KEYS: the first entry is current, all decrypt', () => {
    const keyring = loadKeyring({ IDFLOW_ENCRYPTION_KEYS: ` k2:${K2} , k1:${K1}` })!;
    expect(keyring.currentKeyId).toBe('k2');
    expect(keyring.keyIds).toEqual(['k2', 'k1']);
    expect(keyring.key('k1')).toBeDefined();
    expect(keyring.key('k3')).toBeUndefined();
    expect(keyring.source).toBe('IDFLOW_ENCRYPTION_KEYS');
  });

  test('URL-safe and unpadded base64 keys are accepted', () => {
    const raw = randomBytes(32);
    expect(parseKeyList(`a:${raw.toString('base64url')}`).currentKeyId).toBe('a');
    expect(parseKeyList(`b:${raw.toString('base64').replace(/=+$/, '')}`).currentKeyId).toBe('b');
  });

  test('no key: encryption off in development, an error naming both variables in production', () => {
    expect(loadKeyring({})).toBeUndefined();
    expect(loadKeyring({ IDFLOW_MODE: 'development' })).toBeUndefined();
    expectError(() => loadKeyring({ IDFLOW_MODE: 'production' }), /IDFLOW_MODE=production requires payload encryption.*IDFLOW_ENCRYPTION_KEYS.*IDFLOW_ENCRYPTION_KEY_FILE/);
    expect(loadKeyring({ IDFLOW_MODE: 'production', IDFLOW_ENCRYPTION_KEYS: `k1:${K1}` })?.currentKeyId).toBe('k1');
  });

  test('an unknown mode is an error, not silently development', () => {
    expectError(() => loadKeyring({ IDFLOW_MODE: 'prod' }), /IDFLOW_MODE="prod" is not a mode/);
  });

  test('parse errors are specific and never echo key material', () => {
    const short = randomBytes(16).toString('base64');
    const cases: Array<[string, RegExp, string?]> = [
      ['', /set but empty/],
      [`k1:${K1},k1:${K2}`, /key id "k1" appears more than once/],
      [`k1:not*base64!`, /key "k1" is not valid base64/, 'not*base64!'],
      [`k1:${short}`, /key "k1" is 16 bytes; AES-256 needs exactly 32 bytes/, short],
      [`k1:${Buffer.alloc(32).toString('base64')}`, /constant byte pattern/],
      [`k1${K1}`, /entry 1 is not "keyId:base64key"/],
      [`k1:${K1},${K2}`, /entry 2 is not "keyId:base64key"/],
      [`bad id:${K1}`, /key id "bad id" is invalid/],
      [`:${K1}`, /key id "" is invalid/],
    ];
    for (const [value, pattern, material] of cases) {
      const err = expectError(() => loadKeyring({ IDFLOW_ENCRYPTION_KEYS: value }), pattern);
      for (const m of [K1, K2, material].filter(Boolean)) expect(err.message).not.toContain(m);
    }
    expectError(() => loadKeyring({ IDFLOW_ENCRYPTION_KEYS: `k1:${K1}`, IDFLOW_ENCRYPTION_KEY_FILE: '/x' }), /both IDFLOW_ENCRYPTION_KEYS and IDFLOW_ENCRYPTION_KEY_FILE are set/);
  });

  test('a keyring never prints its keys', () => {
    const keyring = parseKeyList(`k1:${K1}`);
    const printed = inspect(keyring, { depth: 10 }) + JSON.stringify(keyring) + inspect(keyring.key('k1'), { depth: 10 });
    expect(printed).not.toContain(K1);
    expect(printed).not.toContain(Buffer.from(K1, 'base64').toString('hex'));
  });

  describe('key file', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'idflow-keys-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));
    const write = (name: string, content: unknown, mode = 0o600) => {
      const path = join(dir, name);
      writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
      chmodSync(path, mode);
      return path;
    };

    test('"current" selects the encryption key; every listed key decrypts', () => {
      const path = write('keys.json', { current: 'k2', keys: { k1: K1, k2: K2 } });
      const keyring = loadKeyring({ IDFLOW_ENCRYPTION_KEY_FILE: path })!;
      expect(keyring.currentKeyId).toBe('k2');
      expect([...keyring.keyIds].sort()).toEqual(['k1', 'k2']);
      expect(keyring.source).toBe(`IDFLOW_ENCRYPTION_KEY_FILE=${path}`);
    });

    test('group-readable is fine; readable by others or writable by the group is refused', () => {
      expect(readKeyFile(write('g.json', { current: 'k1', keys: { k1: K1 } }, 0o640)).currentKeyId).toBe('k1');
      expectError(() => readKeyFile(write('o.json', { current: 'k1', keys: { k1: K1 } }, 0o644)), /mode 644.*chmod 600/);
      expectError(() => readKeyFile(write('w.json', { current: 'k1', keys: { k1: K1 } }, 0o660)), /mode 660/);
    });

    test('file errors are specific', () => {
      expectError(() => readKeyFile(join(dir, 'missing.json')), /cannot read the key file \(ENOENT\)/);
      expectError(() => readKeyFile(write('a.json', '{ nope')), /not valid JSON/);
      expectError(() => readKeyFile(write('b.json', { current: 'k3', keys: { k1: K1 } })), /current key id "k3" is not among the keys \(k1\)/);
      expectError(() => readKeyFile(write('c.json', { current: 'k1', keys: {} })), /"keys" is empty/);
      expectError(() => readKeyFile(write('d.json', { current: 'k1', keys: { k1: 42 } })), /key "k1" must be a base64 string/);
      expectError(() => readKeyFile(write('e.json', [K1])), /expected an object/);
      const err = expectError(() => readKeyFile(write('f.json', { current: 'k1', keys: { k1: K1.slice(0, 20) } })), /key "k1" is not valid base64|key "k1" is 15 bytes/);
      expect(err.message).not.toContain(K1.slice(0, 20));
    });

    test('rotateKeyFile adds a current key and keeps the old ones; the file stays mode 600', async () => {
      const path = join(dir, 'sub', 'keys.json');
      expect(rotateKeyFile(path, 'k1')).toBe('k1');
      const first = readKeyFile(path);
      expect(rotateKeyFile(path, 'k2')).toBe('k2');
      const second = readKeyFile(path);
      expect(second.currentKeyId).toBe('k2');
      expect([...second.keyIds].sort()).toEqual(['k1', 'k2']);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(() => rotateKeyFile(path, 'k2')).toThrow(/already exists/);
      const auto = rotateKeyFile(path);
      expect(auto).toMatch(/^k\d{8}$/);
      // a payload from the first key still decrypts after both rotations
      const old = await new AesGcmCodec(first).encode([toPayload(PERSON)]);
      const rotated = new AesGcmCodec(readKeyFile(path));
      expect(fromPayload((await rotated.decode(old))[0]!)).toEqual(PERSON);
    });

    test('staged rotation: --keep-current adds a decrypt-only key, promote makes it current', () => {
      const path = join(dir, 'keys.json');
      rotateKeyFile(path, 'k1');
      rotateKeyFile(path, 'k2', { keepCurrent: true });
      expect(readKeyFile(path).currentKeyId).toBe('k1');
      expect(readKeyFile(path).key('k2')).toBeDefined();
      promoteKeyFile(path, 'k2');
      expect(readKeyFile(path).currentKeyId).toBe('k2');
      expect(() => promoteKeyFile(path, 'k3')).toThrow(/no key "k3"/);
    });

    test('ensureDevKeyFile creates one key once and keeps it', () => {
      const path = join(dir, 'dev-keys.json');
      ensureDevKeyFile(path);
      const before = readFileSync(path, 'utf8');
      ensureDevKeyFile(path);
      expect(readFileSync(path, 'utf8')).toBe(before);
      expect(readKeyFile(path).currentKeyId).toBe('dev1');
    });
  });

  test('generateKey gives distinct 32-byte keys', () => {
    const a = generateKey();
    expect(Buffer.from(a, 'base64')).toHaveLength(32);
    expect(generateKey()).not.toBe(a);
  });
});

describe('AesGcmCodec', () => {
  const codec = codecWith('k1', { k1: K1 });
  const values: unknown[] = [PERSON, 'Zoë Ångström-Okafor', 42, true, null, undefined, [PERSON, PERSON], new Uint8Array([0, 1, 2, 255]), { nested: { deep: ['é', '👩‍💼'] } }, ''];

  test('round trip of real payloads restores metadata and data exactly', async () => {
    const payloads = values.map(toPayload);
    const encoded = await codec.encode(payloads);
    expect(encoded).toHaveLength(payloads.length);
    const decoded = await codec.decode(encoded);
    decoded.forEach((p, i) => {
      expect(temporal.api.common.v1.Payload.encode(p).finish()).toEqual(temporal.api.common.v1.Payload.encode(payloads[i]!).finish());
      expect(fromPayload(p)).toEqual(values[i]);
    });
  });

  test('an encrypted payload shows only its encoding, key id and cipher: no names, email, groups or original encoding', async () => {
    const [enc] = await codec.encode([toPayload(PERSON)]);
    expect(Object.keys(enc!.metadata!).sort()).toEqual(['encoding', 'encryption-cipher', 'encryption-key-id']);
    expect(meta(enc!, 'encoding')).toBe('binary/encrypted');
    expect(meta(enc!, 'encryption-key-id')).toBe('k1');
    expect(meta(enc!, 'encryption-cipher')).toBe('AES-256-GCM');
    expect(isEncryptedPayload(enc)).toBe(true);
    for (const s of SECRETS) expect(asText(enc!)).not.toContain(s);
    expect(() => fromPayload(enc!)).toThrow(); // without the codec, no converter can read it
  });

  test('every encryption uses a fresh IV', async () => {
    const [a, b] = await codec.encode([toPayload(PERSON), toPayload(PERSON)]);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
    expect(Buffer.from(a!.data!).subarray(0, 12).equals(Buffer.from(b!.data!).subarray(0, 12))).toBe(false);
  });

  test('decode leaves plaintext payloads (from before encryption was on) untouched', async () => {
    const plain = toPayload(PERSON);
    const [enc] = await codec.encode([toPayload('x')]);
    const out = await codec.decode([plain, enc!]);
    expect(out[0]).toBe(plain);
    expect(fromPayload(out[1]!)).toBe('x');
  });

  test('rotation: old payloads decrypt with the earlier key, new ones use the current key', async () => {
    const before = await codecWith('k1', { k1: K1 }).encode([toPayload(PERSON)]);
    const rotated = codecWith('k2', { k1: K1, k2: K2 });
    expect(fromPayload((await rotated.decode(before))[0]!)).toEqual(PERSON);
    const after = await rotated.encode([toPayload(PERSON)]);
    expect(meta(after[0]!, 'encryption-key-id')).toBe('k2');
    // a process that has not been given k2 yet fails loudly on new payloads
    await expect(codecWith('k1', { k1: K1 }).decode(after)).rejects.toThrow(/encrypted with key id "k2", which is not in the keyring/);
  });

  test('an unknown key id is a clear error naming the key id', async () => {
    const [enc] = await codecWith('old', { old: K1 }).encode([toPayload(PERSON)]);
    const err = await codec.decode([enc!]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PayloadDecryptionError);
    expect((err as PayloadDecryptionError).keyId).toBe('old');
    expect((err as Error).message).toMatch(/key id "old", which is not in the keyring \(keyring; known: k1\)/);
  });

  test('a wrong key under the right id fails authentication', async () => {
    const [enc] = await codec.encode([toPayload(PERSON)]);
    await expect(codecWith('k1', { k1: K2 }).decode([enc!])).rejects.toThrow(/key id "k1" failed authentication/);
  });

  test('tampered ciphertext, IV or tag fails authentication', async () => {
    const [enc] = await codec.encode([toPayload(PERSON)]);
    const length = enc!.data!.length;
    for (const index of [0, 12, 20, length - 1]) {
      const data = Buffer.from(enc!.data!);
      data[index] = data[index]! ^ 0x01;
      const err = await codec.decode([{ ...enc!, data }]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PayloadDecryptionError);
      expect((err as Error).message).toMatch(/failed authentication/);
    }
  });

  test('relabelling a payload with another key id fails (the key id is authenticated)', async () => {
    const sameKeyTwoIds = codecWith('a', { a: K1, b: K1 });
    const [enc] = await sameKeyTwoIds.encode([toPayload(PERSON)]);
    const relabelled = { ...enc!, metadata: { ...enc!.metadata, 'encryption-key-id': new TextEncoder().encode('b') } };
    await expect(sameKeyTwoIds.decode([relabelled])).rejects.toThrow(/key id "b" failed authentication/);
  });

  test('malformed encrypted payloads are errors, never passed through', async () => {
    const [enc] = await codec.encode([toPayload(PERSON)]);
    const noKeyId = { ...enc!, metadata: { encoding: enc!.metadata!.encoding!, 'encryption-cipher': enc!.metadata!['encryption-cipher']! } };
    await expect(codec.decode([noKeyId])).rejects.toThrow(/no encryption-key-id metadata/);
    await expect(codec.decode([{ ...enc!, data: Buffer.from(enc!.data!).subarray(0, 20) }])).rejects.toThrow(/truncated/);
    await expect(codec.decode([{ ...enc!, data: undefined }])).rejects.toThrow(/truncated/);
    const otherCipher = { ...enc!, metadata: { ...enc!.metadata, 'encryption-cipher': new TextEncoder().encode('AES-128-CBC') } };
    await expect(codec.decode([otherCipher])).rejects.toThrow(/only AES-256-GCM is supported/);
  });
});

describe('dataConverterFromEnv', () => {
  const codec = () => codecWith('k1', { k1: K1 });

  test('undefined when off; codec and failure converter when keys are set; throws in production without a key', () => {
    expect(dataConverterFromEnv({})).toBeUndefined();
    const dc = dataConverterFromEnv({ IDFLOW_ENCRYPTION_KEYS: `k1:${K1}` })!;
    expect(dc.payloadCodecs).toHaveLength(1);
    expect(dc.payloadCodecs![0]).toBeInstanceOf(AesGcmCodec);
    expect(dc.failureConverterPath).toBe(FAILURE_CONVERTER_PATH);
    expect(existsSync(dc.failureConverterPath!)).toBe(true);
    expect(() => dataConverterFromEnv({ IDFLOW_MODE: 'production' })).toThrow(EncryptionConfigError);
  });

  test('failure messages and stack traces move into an encrypted payload and come back', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { failureConverter } = require(FAILURE_CONVERTER_PATH) as { failureConverter: FailureConverter };
    const failure = failureConverter.errorToFailure(new Error(`no mailbox for ${PERSON.mail} in ${PERSON.groups[0]}`), defaultPayloadConverter);
    expect(failure.message).toBe('Encoded failure');
    expect(failure.stackTrace ?? '').not.toContain(PERSON.mail);
    const [encrypted] = await codec().encode([failure.encodedAttributes!]);
    for (const s of [PERSON.mail, PERSON.groups[0]!]) expect(asText(encrypted!)).not.toContain(s);
    const [decrypted] = await codec().decode([encrypted!]);
    const error = failureConverter.failureToError({ ...failure, encodedAttributes: decrypted }, defaultPayloadConverter);
    expect(error.message).toBe(`no mailbox for ${PERSON.mail} in ${PERSON.groups[0]}`);
  });
});

describe('decode helpers for raw histories', () => {
  test('decryptPayloadsDeep decrypts every encrypted payload in a History and leaves search attributes alone', async () => {
    const codec = codecWith('k1', { k1: K1 });
    const [input] = await codec.encode([toPayload(PERSON)]);
    const [result] = await codec.encode([toPayload({ groupsAdded: PERSON.groups })]);
    const employeeId = toPayload(PERSON.employeeId);
    const history = temporal.api.history.v1.History.create({
      events: [
        {
          workflowExecutionStartedEventAttributes: {
            input: { payloads: [input!] },
            searchAttributes: { indexedFields: { EmployeeId: employeeId } },
          },
        },
        { workflowExecutionCompletedEventAttributes: { result: { payloads: [result!] } } },
      ],
    });
    await decryptPayloadsDeep(history, codec);
    const started = history.events[0]!.workflowExecutionStartedEventAttributes!;
    expect(fromPayload(started.input!.payloads![0]!)).toEqual(PERSON);
    expect(started.searchAttributes!.indexedFields!.EmployeeId).toBe(employeeId);
    expect(fromPayload(history.events[1]!.workflowExecutionCompletedEventAttributes!.result!.payloads![0]!)).toEqual({ groupsAdded: PERSON.groups });
  });

  test('decryptPayloadsDeep rejects, rather than half-decoding, when a key is missing', async () => {
    const [a] = await codecWith('k1', { k1: K1 }).encode([toPayload('a')]);
    const [b] = await codecWith('k9', { k9: K2 }).encode([toPayload('b')]);
    const tree = { x: a, y: [b] };
    await expect(decryptPayloadsDeep(tree, codecWith('k1', { k1: K1 }))).rejects.toThrow(/key id "k9"/);
    expect(tree.x).toBe(a);
  });

  test('decodePayloadValues: values with the codec; a clear error without it', async () => {
    const codec = codecWith('k1', { k1: K1 });
    const encoded = await codec.encode([toPayload(PERSON), toPayload(7)]);
    expect(await decodePayloadValues(encoded, codec)).toEqual([PERSON, 7]);
    expect(await decodePayloadValues([toPayload('plain')], undefined)).toEqual(['plain']);
    await expect(decodePayloadValues(encoded, undefined)).rejects.toThrow(/payload is encrypted and no encryption key is configured/);
  });
});

describe('local stack helpers', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'idflow-dev-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('devEncryption creates a dev key file once, or keeps keys already configured', () => {
    const first = devEncryption(dir, {});
    expect(first.env).toEqual({ IDFLOW_ENCRYPTION_KEY_FILE: join(dir, 'encryption-keys.json') });
    expect(first.codecToken.length).toBeGreaterThanOrEqual(16);
    expect(loadKeyring(first.env)?.currentKeyId).toBe('dev1');
    const again = devEncryption(dir, {});
    expect(readFileSync(join(dir, 'encryption-keys.json'), 'utf8')).toBe(readFileSync(again.env.IDFLOW_ENCRYPTION_KEY_FILE!, 'utf8'));
    expect(again.codecToken).not.toBe(first.codecToken);
    expect(devEncryption(dir, { IDFLOW_ENCRYPTION_KEYS: `k1:${K1}`, IDFLOW_CODEC_TOKEN: 'given-token-1234567' })).toEqual({ env: { IDFLOW_ENCRYPTION_KEYS: `k1:${K1}` }, codecToken: 'given-token-1234567' });
  });

  test('devCodecServerArgs', () => {
    expect(devCodecServerArgs({ port: 8234, uiPort: 8233 })).toEqual([
      'codec-server', '--host', '127.0.0.1', '--port', '8234', '--origin', 'http://127.0.0.1:8233', 'http://localhost:8233', '--dev-trust-loopback-origin',
    ]);
  });
});
