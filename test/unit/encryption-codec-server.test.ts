import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { defaultPayloadConverter } from '@temporalio/common';
import { AesGcmCodec, createKeyring, type JsonPayload, payloadToJson, type RunningCodecServer, startCodecServer } from '../../encryption';

const K1 = randomBytes(32).toString('base64');
const K2 = randomBytes(32).toString('base64');
const TOKEN = randomBytes(24).toString('base64url');
const UI = 'http://127.0.0.1:8233';
const UI_LOCALHOST = 'http://localhost:8233';
const PERSON = { displayName: 'Zoë Ångström-Okafor', mail: 'zoe.angstrom-okafor@contoso.example', groups: ['GRP-Finance-Approvers'] };
const codec = new AesGcmCodec(createKeyring({ current: 'k1', keys: { k1: K1 } }));

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: () => { payloads: JsonPayload[]; error?: string };
}

/** node:http rather than fetch: full control over Host, Origin and Content-Type. */
function call(server: RunningCodecServer, opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: server.port, method: opts.method ?? 'POST', path: opts.path ?? '/decode', headers: opts.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body) as { payloads: JsonPayload[]; error?: string } });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const jsonHeaders = (extra: Record<string, string> = {}) => ({ 'Content-Type': 'application/json', 'X-Namespace': 'default', ...extra });
const withToken = (extra: Record<string, string> = {}) => jsonHeaders({ Authorization: `Bearer ${TOKEN}`, ...extra });
const body = (payloads: JsonPayload[]) => JSON.stringify({ payloads });
const plainJson = (v: unknown) => payloadToJson(defaultPayloadConverter.toPayload(v));
const valueOf = (p: JsonPayload) =>
  defaultPayloadConverter.fromPayload({
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data ?? '', 'base64'),
  });

describe('codec server with a token', () => {
  let server: RunningCodecServer;
  const logs: string[] = [];
  beforeAll(async () => {
    server = await startCodecServer({ codec, origins: [UI, UI_LOCALHOST], token: TOKEN, log: (l) => logs.push(l), mode: 'development' });
  });
  afterAll(() => server.close());

  test('listens on loopback and answers /healthz', async () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    const r = await call(server, { method: 'GET', path: '/healthz' });
    expect(r.status).toBe(200);
  });

  test('/encode then /decode round trip; ciphertext holds no plaintext', async () => {
    const input = [plainJson(PERSON), plainJson('Zoë'), plainJson(null), plainJson(undefined)];
    const enc = await call(server, { path: '/encode', headers: withToken(), body: body(input) });
    expect(enc.status).toBe(200);
    const encrypted = enc.json().payloads;
    expect(encrypted).toHaveLength(4);
    for (const p of encrypted) expect(Buffer.from(p.metadata!.encoding!, 'base64').toString()).toBe('binary/encrypted');
    for (const s of [PERSON.displayName, PERSON.mail, PERSON.groups[0]!, 'json/plain']) {
      expect(Buffer.from(encrypted.map((p) => p.data).join(''), 'base64').toString('latin1')).not.toContain(s);
      expect(enc.body).not.toContain(s);
    }
    const dec = await call(server, { path: '/decode', headers: withToken(), body: enc.body });
    expect(dec.status).toBe(200);
    expect(dec.headers['cache-control']).toBe('no-store');
    expect(dec.json().payloads.map(valueOf)).toEqual([PERSON, 'Zoë', null, undefined]);
    // the access log says who asked, never what came back
    expect(logs.some((l) => l.includes('/decode 200') && l.includes('ns=default') && l.includes('payloads=4') && l.includes('auth=token'))).toBe(true);
    for (const s of [PERSON.displayName, PERSON.mail]) expect(logs.join('\n')).not.toContain(s);
  });

  test('an empty body object (temporal workflow query with no input) decodes to no payloads', async () => {
    const dec = await call(server, { path: '/decode', headers: withToken(), body: '{}' });
    expect(dec.status).toBe(200);
    expect(dec.json().payloads).toEqual([]);
  });

  test('payloads encrypted by a worker decode; plaintext payloads pass through; any path prefix works', async () => {
    const fromWorker = (await codec.encode([defaultPayloadConverter.toPayload(PERSON)])).map(payloadToJson);
    const r = await call(server, { path: '/api/default/decode', headers: withToken(), body: body([...fromWorker, plainJson('plain')]) });
    expect(r.status).toBe(200);
    expect(r.json().payloads.map(valueOf)).toEqual([PERSON, 'plain']);
  });

  test('CORS preflight: allowed origins get the headers, without a token', async () => {
    for (const origin of [UI, UI_LOCALHOST]) {
      const r = await call(server, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,x-namespace' } });
      expect(r.status).toBe(204);
      expect(r.headers['access-control-allow-origin']).toBe(origin);
      expect(r.headers['access-control-allow-credentials']).toBe('true');
      expect(r.headers['access-control-allow-headers']).toBe('X-Namespace, Content-Type, Authorization');
      expect(r.headers['access-control-allow-methods']).toBe('POST, OPTIONS');
      expect(r.headers.vary).toBe('Origin');
    }
  });

  test('CORS: another origin is refused, preflight or not, even with the token', async () => {
    const pre = await call(server, { method: 'OPTIONS', headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' } });
    expect(pre.status).toBe(403);
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    const post = await call(server, { headers: withToken({ Origin: 'http://127.0.0.1:9999' }), body: body([]) });
    expect(post.status).toBe(403);
    expect(post.headers['access-control-allow-origin']).toBeUndefined();
  });

  test('POST from the UI origin with the token carries CORS headers', async () => {
    const r = await call(server, { headers: withToken({ Origin: UI }), body: body([plainJson(1)]) });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBe(UI);
  });

  test('missing token → 401, wrong token → 403; even from the UI origin', async () => {
    const missing = await call(server, { headers: jsonHeaders({ Origin: UI }), body: body([]) });
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(missing.headers['access-control-allow-origin']).toBe(UI); // so the UI can read the status
    for (const auth of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, TOKEN, `Basic ${TOKEN}`, 'Bearer ']) {
      const wrong = await call(server, { headers: jsonHeaders({ Authorization: auth }), body: body([]) });
      expect(wrong.status).toBe(403);
    }
  });

  test('a Host header that is not loopback is refused (DNS rebinding)', async () => {
    const r = await call(server, { headers: withToken({ Host: `attacker.example:${server.port}` }), body: body([]) });
    expect(r.status).toBe(403);
    expect(r.json().error).toMatch(/Host/);
  });

  test('undecryptable payloads are 422 with a clear message, never echoed back', async () => {
    const [other] = await new AesGcmCodec(createKeyring({ current: 'k9', keys: { k9: K2 } })).encode([defaultPayloadConverter.toPayload(PERSON)]);
    const unknown = await call(server, { headers: withToken(), body: body([payloadToJson(other!)]) });
    expect(unknown.status).toBe(422);
    expect(unknown.json().error).toMatch(/key id "k9", which is not in the keyring/);
    expect(unknown.body).not.toContain(payloadToJson(other!).data!);

    const [mine] = await codec.encode([defaultPayloadConverter.toPayload(PERSON)]);
    const data = Buffer.from(mine!.data!);
    data[15] = data[15]! ^ 0xff;
    const tampered = await call(server, { headers: withToken(), body: body([payloadToJson({ ...mine!, data })]) });
    expect(tampered.status).toBe(422);
    expect(tampered.json().error).toMatch(/failed authentication/);
  });

  test('malformed requests', async () => {
    expect((await call(server, { headers: withToken({ 'Content-Type': 'text/plain' }), body: body([]) })).status).toBe(415);
    expect((await call(server, { headers: withToken(), body: '{' })).status).toBe(400);
    expect((await call(server, { headers: withToken(), body: '{"payload":[]}' })).status).toBe(400);
    expect((await call(server, { headers: withToken(), body: '{"payloads":[{"data":"%%%"}]}' })).status).toBe(400);
    expect((await call(server, { headers: withToken(), body: '{"payloads":[{"metadata":{"encoding":5}}]}' })).status).toBe(400);
    expect((await call(server, { path: '/other', headers: withToken(), body: body([]) })).status).toBe(404);
    expect((await call(server, { method: 'GET', path: '/decode', headers: withToken() })).status).toBe(405);
  });
});

describe('codec server options', () => {
  test('namespaces restrict X-Namespace; bodies are size-limited', async () => {
    const server = await startCodecServer({ codec, origins: [UI], token: TOKEN, namespaces: ['default'], maxBodyBytes: 1024, mode: 'development' });
    try {
      expect((await call(server, { headers: withToken(), body: body([plainJson(1)]) })).status).toBe(200);
      expect((await call(server, { headers: withToken({ 'X-Namespace': 'hr' }), body: body([]) })).status).toBe(403);
      expect((await call(server, { headers: withToken(), body: body([plainJson('x'.repeat(2000))]) })).status).toBe(413);
    } finally {
      await server.close();
    }
  });

  test('refuses to start without a token unless the dev loopback trust is on; refuses short tokens', async () => {
    await expect(startCodecServer({ codec, origins: [UI], mode: 'development' })).rejects.toThrow(/no token configured \(IDFLOW_CODEC_TOKEN\)/);
    await expect(startCodecServer({ codec, origins: [UI], token: 'short', mode: 'development' })).rejects.toThrow(/at least 16 characters/);
    await expect(startCodecServer({ codec, origins: ['*'], token: TOKEN, mode: 'development' })).rejects.toThrow(/not a URL/);
  });

  test('the dev loopback trust is refused in production, on a non-loopback address and for non-loopback origins', async () => {
    await expect(startCodecServer({ codec, origins: [UI], trustLoopbackOrigin: true, mode: 'production' })).rejects.toThrow(/development only.*IDFLOW_MODE=production/);
    await expect(startCodecServer({ codec, origins: [UI], trustLoopbackOrigin: true, host: '0.0.0.0', mode: 'development' })).rejects.toThrow(/loopback listen address/);
    await expect(startCodecServer({ codec, origins: ['https://temporal.example.com'], trustLoopbackOrigin: true, mode: 'development' })).rejects.toThrow(/loopback origins/);
  });
});

describe('codec server in dev mode (trusted loopback UI origin)', () => {
  let server: RunningCodecServer;
  beforeAll(async () => {
    server = await startCodecServer({ codec, origins: [UI, UI_LOCALHOST], token: TOKEN, trustLoopbackOrigin: true, mode: 'development' });
  });
  afterAll(() => server.close());

  test('what the dev UI sends (Origin, no Authorization) is accepted', async () => {
    const [enc] = await codec.encode([defaultPayloadConverter.toPayload(PERSON)]);
    const r = await call(server, { headers: jsonHeaders({ Origin: UI_LOCALHOST }), body: body([payloadToJson(enc!)]) });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBe(UI_LOCALHOST);
    expect(r.json().payloads.map(valueOf)).toEqual([PERSON]);
  });

  test('no Origin and no token → 401; another origin → 403; a wrong token is not ignored → 403; the token still works', async () => {
    expect((await call(server, { headers: jsonHeaders(), body: body([]) })).status).toBe(401);
    expect((await call(server, { headers: jsonHeaders({ Origin: 'http://evil.example' }), body: body([]) })).status).toBe(403);
    expect((await call(server, { headers: jsonHeaders({ Origin: UI, Authorization: 'Bearer nope-nope-nope-nope' }), body: body([]) })).status).toBe(403);
    expect((await call(server, { headers: withToken(), body: body([]) })).status).toBe(200);
  });
});
