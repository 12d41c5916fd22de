/** Token endpoint, discovery, credentials and bearer validation — with the real @azure/identity clients. */
import { createPrivateKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { GraphError } from '@microsoft/microsoft-graph-client';
import type { User } from '@microsoft/microsoft-graph-types';
import { signJwt } from '../../simulator/jwt';
import { certificateCredential, graphClientFor, GRAPH_SCOPE, Harness, rawRequest, secretCredential, startHarness } from './harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ users: 50 });
});
afterAll(async () => {
  await h.close();
});

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('discovery', () => {
  test('openid-configuration has an issuer on the simulator origin and the endpoints MSAL needs', async () => {
    const r = await h.raw('GET', `/${h.sim.tenantId}/v2.0/.well-known/openid-configuration`, { token: null });
    expect(r.status).toBe(200);
    expect(r.json.issuer).toBe(`${h.sim.url}/${h.sim.tenantId}/v2.0`);
    expect(r.json.token_endpoint).toBe(`${h.sim.url}/${h.sim.tenantId}/oauth2/v2.0/token`);
    expect(r.json.authorization_endpoint).toMatch(/^https:\/\//);
    expect(r.json.jwks_uri).toBe(`${h.sim.url}/${h.sim.tenantId}/discovery/v2.0/keys`);
    const keys = await h.raw('GET', new URL(r.json.jwks_uri).pathname, { token: null });
    expect(keys.json.keys[0]).toMatchObject({ kty: 'RSA', use: 'sig' });
  });

  test('unknown tenant -> 400 AADSTS90002', async () => {
    const r = await h.raw('GET', '/00000000-0000-0000-0000-000000000001/v2.0/.well-known/openid-configuration', { token: null });
    expect(r.status).toBe(400);
    expect(r.json.error_codes).toEqual([90002]);
  });
});

describe('client secret', () => {
  test('ClientSecretCredential gets a 1 h token with tid, appid and roles', async () => {
    const t = await secretCredential(h.sim).getToken(GRAPH_SCOPE);
    expect(t.token).toBeTruthy();
    expect(t.expiresOnTimestamp - Date.now()).toBeGreaterThan(3500_000);
    const c = claimsOf(t.token);
    expect(c).toMatchObject({ tid: h.sim.tenantId, appid: h.sim.clientId, aud: 'https://graph.microsoft.com', appidacr: '1' });
    expect(c.roles).toEqual(expect.arrayContaining(['User.Read.All', 'Group.Read.All', 'GroupMember.Read.All']));
  });

  test('a wrong secret fails with AADSTS7000215 through @azure/identity', async () => {
    await expect(secretCredential(h.sim, 'not-the-secret').getToken(GRAPH_SCOPE)).rejects.toThrow(/AADSTS7000215/);
  });

  test('token endpoint errors use the Entra body format', async () => {
    const path = `/${h.sim.tenantId}/oauth2/v2.0/token`;
    const base = { grant_type: 'client_credentials', client_id: h.sim.clientId, scope: GRAPH_SCOPE };
    const bad = await h.raw('POST', path, { token: null, form: { ...base, client_secret: 'nope' }, headers: { 'client-request-id': 'abc-123' } });
    expect(bad.status).toBe(401);
    expect(bad.json).toMatchObject({ error: 'invalid_client', error_codes: [7000215], correlation_id: 'abc-123' });
    expect(bad.json.error_description).toMatch(/^AADSTS7000215: Invalid client secret provided\. .*\r\nTrace ID: .+\r\nCorrelation ID: abc-123\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/s);
    expect(typeof bad.json.timestamp).toBe('string');
    expect(typeof bad.json.trace_id).toBe('string');

    const tenant = await h.raw('POST', `/contoso.invalid/oauth2/v2.0/token`, { token: null, form: { ...base, client_secret: h.sim.clientSecret } });
    expect([tenant.status, tenant.json.error_codes]).toEqual([400, [90002]]);
    const client = await h.raw('POST', path, { token: null, form: { ...base, client_id: randomUUID(), client_secret: h.sim.clientSecret } });
    expect([client.status, client.json.error, client.json.error_codes]).toEqual([400, 'unauthorized_client', [700016]]);
    const scope = await h.raw('POST', path, { token: null, form: { ...base, scope: 'User.Read', client_secret: h.sim.clientSecret } });
    expect([scope.status, scope.json.error, scope.json.error_codes]).toEqual([400, 'invalid_scope', [1002012]]);
    expect(scope.json.error_description).toMatch(/^AADSTS1002012: The provided value for scope User\.Read is not valid\. Client credential flows must have a scope value with \/\.default suffixed/);
    const other = await h.raw('POST', path, { token: null, form: { ...base, scope: 'https://vault.azure.net/.default', client_secret: h.sim.clientSecret } });
    expect([other.status, other.json.error, other.json.error_codes]).toEqual([400, 'invalid_scope', [70011]]);
    const none = await h.raw('POST', path, { token: null, form: base });
    expect([none.status, none.json.error_codes]).toEqual([401, [7000216]]);
    const grant = await h.raw('POST', path, { token: null, form: { ...base, grant_type: 'password', client_secret: h.sim.clientSecret } });
    expect([grant.status, grant.json.error]).toEqual([400, 'unsupported_grant_type']);
    const ok = await h.raw('POST', path, { token: null, form: { ...base, client_secret: h.sim.clientSecret } });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ token_type: 'Bearer' });
    expect(ok.json.ext_expires_in).toBe(ok.json.expires_in);
  });

  test("tokens live 60 to 90 minutes, varying, as Entra's default lifetime does", async () => {
    const form = { grant_type: 'client_credentials', client_id: h.sim.clientId, scope: GRAPH_SCOPE, client_secret: h.sim.clientSecret };
    const lifetimes = new Set<number>();
    for (let i = 0; i < 8; i++) {
      const r = await h.raw('POST', `/${h.sim.tenantId}/oauth2/v2.0/token`, { token: null, form });
      const exp = claimsOf(r.json.access_token).exp as number;
      expect(r.json.expires_in).toBeGreaterThanOrEqual(3599);
      expect(r.json.expires_in).toBeLessThan(5400);
      expect(Math.abs(exp - Math.floor(Date.now() / 1000) - r.json.expires_in)).toBeLessThanOrEqual(2);
      lifetimes.add(r.json.expires_in);
    }
    expect(lifetimes.size).toBeGreaterThan(1);
  });

  test('an expired client secret is AADSTS7000222 (invalid_client); a certificate still works', async () => {
    const form = { grant_type: 'client_credentials', client_id: h.sim.clientId, scope: GRAPH_SCOPE, client_secret: h.sim.clientSecret };
    const path = `/${h.sim.tenantId}/oauth2/v2.0/token`;
    const set = await h.raw('POST', '/_admin/credentials/secret', { body: { expiresAt: new Date(Date.now() - 1000).toISOString() } });
    expect(set.status).toBe(200);
    try {
      const expired = await h.raw('POST', path, { token: null, form });
      expect([expired.status, expired.json.error, expired.json.error_codes]).toEqual([401, 'invalid_client', [7000222]]);
      expect(expired.json.error_description).toMatch(/^AADSTS7000222: The provided client secret keys for app '.+' are expired\./);
      expect((await certificateCredential(h.sim).getToken(GRAPH_SCOPE)).token).toBeTruthy();
    } finally {
      await h.raw('POST', '/_admin/credentials/secret', { body: { expiresAt: null } });
    }
    expect((await h.raw('POST', path, { token: null, form })).status).toBe(200);
  });

  test('the tenant domain name works as authority tenant too', async () => {
    const r = await h.raw('POST', `/contoso.example/oauth2/v2.0/token`, {
      token: null,
      form: { grant_type: 'client_credentials', client_id: h.sim.clientId, scope: GRAPH_SCOPE, client_secret: h.sim.clientSecret },
    });
    expect(r.status).toBe(200);
  });
});

describe('client certificate', () => {
  test('ClientCertificateCredential (PS256 assertion, x5t#S256) gets a token and can call Graph', async () => {
    const cred = certificateCredential(h.sim);
    const t = await cred.getToken(GRAPH_SCOPE);
    expect(claimsOf(t.token).appidacr).toBe('2');
    const { client, dispatcher } = await graphClientFor(h.sim, cred);
    const ada = (await client.api('/users').filter("employeeId eq 'E1001'").select('id,displayName').get()).value[0] as User;
    expect(ada.displayName).toBe('Ada Lovelace');
    await (dispatcher as { close(): Promise<void> }).close();
  });

  const assertionFor = (key: string, header: Record<string, unknown>, claims: Record<string, unknown>) => {
    const now = Math.floor(Date.now() / 1000);
    return signJwt({ aud: `${h.sim.url}/${h.sim.tenantId}/oauth2/v2.0/token`, iss: h.sim.clientId, sub: h.sim.clientId, jti: randomUUID(), nbf: now, exp: now + 600, ...claims }, key, header);
  };
  const post = (assertion: string) =>
    h.raw('POST', `/${h.sim.tenantId}/oauth2/v2.0/token`, {
      token: null,
      form: {
        grant_type: 'client_credentials',
        client_id: h.sim.clientId,
        scope: GRAPH_SCOPE,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      },
    });

  test('an assertion signed with an unregistered key -> 401 AADSTS700027', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const r = await post(assertionFor(other, { x5t: Buffer.alloc(20, 7).toString('base64url') }, {}));
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ error: 'invalid_client', error_codes: [700027] });
  });

  test('the thumbprint is compared as bytes: padded base64url (Python azure-identity) and base64 are accepted, another thumbprint is not', async () => {
    const pem = readFileSync(h.sim.clientCertificatePath, 'utf8');
    const key = createPrivateKey(pem).export({ type: 'pkcs8', format: 'pem' }).toString();
    const { X509Certificate, createHash } = await import('node:crypto');
    const sha1 = createHash('sha1').update(new X509Certificate(pem.slice(pem.indexOf('-----BEGIN CERTIFICATE'))).raw).digest();
    const padded = sha1.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
    expect(padded.endsWith('=')).toBe(true);
    expect((await post(assertionFor(key, { x5t: padded }, {}))).status).toBe(200);
    expect((await post(assertionFor(key, { x5t: sha1.toString('base64') }, {}))).status).toBe(200);
    const wrong = Buffer.from(sha1);
    wrong[0] = wrong[0]! ^ 1;
    expect((await post(assertionFor(key, { x5t: wrong.toString('base64url') }, {}))).json.error_codes).toEqual([700027]);
  });

  test('an assertion whose segments keep base64url padding (Python azure-identity.aio) is accepted; its signature still counts', async () => {
    const pem = readFileSync(h.sim.clientCertificatePath, 'utf8');
    const key = createPrivateKey(pem);
    const { X509Certificate, createHash, sign, constants } = await import('node:crypto');
    const der = new X509Certificate(pem.slice(pem.indexOf('-----BEGIN CERTIFICATE'))).raw;
    // What azure.identity.aio.CertificateCredential builds: base64.urlsafe_b64encode (padded) for every segment, PS256, x5t#S256.
    const padded = (b: Buffer) => b.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
    const now = Math.floor(Date.now() / 1000);
    const make = (claims: Record<string, unknown>) => {
      const header = padded(Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'PS256', 'x5t#S256': padded(createHash('sha256').update(der).digest()) })));
      // A jti of a length that leaves the payload segment padded too.
      let payload = '';
      for (let n = 0; !payload.endsWith('='); n++) {
        payload = padded(Buffer.from(JSON.stringify({ jti: `${randomUUID()}${'x'.repeat(n)}`, aud: `${h.sim.url}/${h.sim.tenantId}/oauth2/v2.0/token`, iss: h.sim.clientId, sub: h.sim.clientId, nbf: now, exp: now + 1800, ...claims })));
      }
      const input = `${header}.${payload}`;
      const sig = sign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
      return { header, payload, signature: padded(sig), jwt: `${input}.${padded(sig)}` };
    };
    const ok = make({});
    expect((await post(ok.jwt)).status).toBe(200);
    // The signature covers the segments as sent: the same segments without their padding do not verify.
    const other = make({});
    const stripped = await post(`${other.header.replace(/=+$/, '')}.${other.payload.replace(/=+$/, '')}.${other.signature}`);
    expect([stripped.status, stripped.json.error_codes]).toEqual([401, [700027]]);
    expect(stripped.json.error_description).toMatch(/did not match the expected signature/);
    // '=' anywhere but at a segment's end is still not a JWT.
    const inner = await post(`${other.header.slice(0, 4)}=${other.header.slice(4)}.${other.payload}.${other.signature}`);
    expect(inner.json.error_description).toMatch(/not a well-formed JWT/);
  });

  test('right thumbprint but wrong signature / wrong aud -> 700027; expired -> 700024; RS256 + x5t accepted', async () => {
    const pem = readFileSync(h.sim.clientCertificatePath, 'utf8');
    const key = createPrivateKey(pem).export({ type: 'pkcs8', format: 'pem' }).toString();
    const { X509Certificate, createHash } = await import('node:crypto');
    const der = new X509Certificate(pem.slice(pem.indexOf('-----BEGIN CERTIFICATE'))).raw;
    const x5t = createHash('sha1').update(der).digest('base64url');
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

    expect((await post(assertionFor(key, { x5t }, {}))).status).toBe(200);
    const forged = await post(assertionFor(other, { x5t }, {}));
    expect([forged.status, forged.json.error_codes]).toEqual([401, [700027]]);
    const aud = await post(assertionFor(key, { x5t }, { aud: 'https://login.microsoftonline.com/x/oauth2/v2.0/token' }));
    expect([aud.status, aud.json.error_codes]).toEqual([401, [700027]]);
    const now = Math.floor(Date.now() / 1000);
    const expired = await post(assertionFor(key, { x5t }, { nbf: now - 7200, exp: now - 3600 }));
    expect([expired.status, expired.json.error_codes]).toEqual([401, [700024]]);
  });
});

describe('bearer tokens on Graph', () => {
  test('no token -> 401 InvalidAuthenticationToken in Graph error format, with request ids', async () => {
    const r = await h.raw('GET', '/v1.0/users', { token: null, headers: { 'client-request-id': 'my-client-id' } });
    expect(r.status).toBe(401);
    expect(r.json.error.code).toBe('InvalidAuthenticationToken');
    expect(r.json.error.message).toBe('Access token is empty.');
    expect(Object.keys(r.json.error.innerError).sort()).toEqual(['client-request-id', 'date', 'request-id']);
    expect(r.json.error.innerError['client-request-id']).toBe('my-client-id');
    expect(r.json.error.innerError.date).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    expect(r.headers['request-id']).toBe(r.json.error.innerError['request-id']);
    expect(r.headers['client-request-id']).toBe('my-client-id');
    expect(r.headers['www-authenticate']).toMatch(/^Bearer /);
  });

  test('expired, garbage and foreign tokens are rejected; missing roles -> 403', async () => {
    const expired = await h.raw('GET', '/v1.0/users', { token: h.sim.issueToken({ lifetimeSeconds: -10 }) });
    expect([expired.status, expired.json.error.code]).toEqual([401, 'InvalidAuthenticationToken']);
    expect(expired.json.error.message).toMatch(/expired/);
    const garbage = await h.raw('GET', '/v1.0/users', { token: 'abc' });
    expect(garbage.status).toBe(401);
    const foreignKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const foreign = signJwt({ aud: 'https://graph.microsoft.com', tid: h.sim.tenantId, exp: Math.floor(Date.now() / 1000) + 600 }, foreignKey, {});
    expect((await h.raw('GET', '/v1.0/users', { token: foreign })).status).toBe(401);
    const noRoles = await h.raw('GET', '/v1.0/users', { token: h.sim.issueToken({ roles: [] }) });
    expect([noRoles.status, noRoles.json.error.code]).toEqual([403, 'Authorization_RequestDenied']);
    const write = await h.raw('POST', '/v1.0/users', { body: { displayName: 'x' } });
    expect([write.status, write.json.error.code]).toEqual([403, 'Authorization_RequestDenied']);
  });

  test('the Graph client surfaces errors as GraphError (statusCode, code, requestId)', async () => {
    const err = (await h.graph
      .api('/users/00000000-0000-4000-8000-000000000000')
      .get()
      .catch((e: unknown) => e)) as GraphError;
    expect(err).toBeInstanceOf(GraphError);
    expect(err.statusCode).toBe(404);
    expect(err.code).toBe('Request_ResourceNotFound');
    expect(err.requestId).toBeTruthy();
  });

  test('admin API needs the bearer token too', async () => {
    expect((await h.raw('GET', '/_admin/state', { token: null })).status).toBe(401);
    expect((await rawRequest(h.sim, 'GET', '/_admin/state', {}, h.sim.issueToken())).status).toBe(200);
  });
});
