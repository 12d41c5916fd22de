/**
 * The Entra side: OpenID discovery, JWKS, the v2.0 token endpoint (client credentials with a secret or a
 * certificate assertion), and bearer-token validation for Graph requests.
 */
import { createHash, createPrivateKey, createPublicKey, KeyObject, randomUUID, timingSafeEqual, X509Certificate } from 'node:crypto';
import { GraphFailure } from './errors';
import { Ctx, header, readBody, send, sendEntraError } from './http';
import { decodeJwt, signJwt, verifyJwtSignature } from './jwt';
import { SimulatorState, TENANT_DOMAIN } from './certs';
import { b64url } from './util';

export const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';
const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
const GRAPH_AUDIENCES = new Set(['https://graph.microsoft.com', 'https://graph.microsoft.com/', GRAPH_APP_ID]);

export interface AccessClaims {
  tid: string;
  appid: string;
  roles: string[];
  exp: number;
  [k: string]: unknown;
}

export interface AuthOptions {
  roles: string[];
  /** null: Entra's default, a random 60 to 90 minutes per token. */
  tokenLifetimeSeconds: number | null;
  appDisplayName: string;
}

export class Authority {
  private readonly signingKey: KeyObject;
  private readonly signingPub: KeyObject;
  private readonly kid: string;
  private readonly clientCertKey: KeyObject;
  /** Object id of the app's service principal (sub/oid of app tokens). */
  readonly servicePrincipalId: string;

  constructor(
    private readonly state: SimulatorState,
    private readonly opts: AuthOptions,
  ) {
    this.signingKey = createPrivateKey(state.signingKeyPem);
    this.signingPub = createPublicKey(this.signingKey);
    this.kid = b64url(createHash('sha1').update(new X509Certificate(state.signingCertPem).raw).digest());
    this.clientCertKey = new X509Certificate(state.clientCertPem).publicKey;
    this.servicePrincipalId = '6b1f3c2a-9d8e-4a7b-8c6d-5e4f3a2b1c0d';
  }

  /** When the app's client secret expires (ms since the epoch); null: not before the simulator stops. */
  secretExpiresAt: number | null = null;

  resetCredentials(): void {
    this.secretExpiresAt = null;
  }

  /** Seconds a new access token lives: Entra gives 60 to 90 minutes, varying per token. */
  private lifetime(): number {
    return this.opts.tokenLifetimeSeconds ?? 3600 + Math.floor(Math.random() * 1800);
  }

  private knownTenant(t: string): boolean {
    const x = t.toLowerCase();
    return x === this.state.tenantId || x === TENANT_DOMAIN;
  }

  openIdConfiguration(ctx: Ctx, tenant: string): void {
    if (!this.knownTenant(tenant)) {
      sendEntraError(ctx, 400, 'invalid_tenant', 90002, tenantNotFound(tenant));
      return;
    }
    const o = ctx.url.origin;
    const t = this.state.tenantId;
    const doc = {
      token_endpoint: `${o}/${t}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${o}/${t}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${o}/${t}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${o}/oidc/userinfo`,
      authorization_endpoint: `${o}/${t}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${o}/${t}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${o}/${t}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'cloud_instance_name', 'cloud_instance_host_name', 'cloud_graph_host_name', 'msgraph_host', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'at_hash', 'c_hash', 'email'],
      kerberos_endpoint: `${o}/${t}/kerberos`,
      tenant_region_scope: 'EU',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    };
    send(ctx, 200, JSON.stringify(doc), { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'max-age=86400, private' });
  }

  keys(ctx: Ctx, tenant: string): void {
    if (!this.knownTenant(tenant)) {
      sendEntraError(ctx, 400, 'invalid_tenant', 90002, tenantNotFound(tenant));
      return;
    }
    const jwk = this.signingPub.export({ format: 'jwk' }) as { n: string; e: string };
    const cert = new X509Certificate(this.state.signingCertPem);
    const body = {
      keys: [{ kty: 'RSA', use: 'sig', kid: this.kid, x5t: this.kid, n: jwk.n, e: jwk.e, x5c: [cert.raw.toString('base64')], issuer: `${ctx.url.origin}/${this.state.tenantId}/v2.0` }],
    };
    send(ctx, 200, JSON.stringify(body), { 'content-type': 'application/json; charset=utf-8' });
  }

  async token(ctx: Ctx, tenant: string): Promise<void> {
    const bodyText = (await readBody(ctx.req, 64 * 1024)).toString('utf8');
    if (ctx.method !== 'POST') {
      sendEntraError(ctx, 405, 'invalid_request', 900561, 'The endpoint only accepts POST requests. Received a GET request.');
      return;
    }
    if (!this.knownTenant(tenant)) {
      sendEntraError(ctx, 400, 'invalid_request', 90002, tenantNotFound(tenant));
      return;
    }
    const form = new URLSearchParams(bodyText);
    const basic = /^Basic\s+(.+)$/i.exec(header(ctx, 'authorization') ?? '');
    let basicId: string | null = null;
    let basicSecret: string | null = null;
    if (basic) {
      const dec = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const i = dec.indexOf(':');
      if (i > 0) {
        basicId = decodeURIComponent(dec.slice(0, i));
        basicSecret = decodeURIComponent(dec.slice(i + 1));
      }
    }
    const grantType = form.get('grant_type');
    if (!grantType) return sendEntraError(ctx, 400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
    if (grantType !== 'client_credentials') {
      return sendEntraError(ctx, 400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'. The simulator supports only 'client_credentials'.`);
    }
    const clientId = form.get('client_id') ?? basicId;
    if (!clientId) return sendEntraError(ctx, 400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
    if (clientId.toLowerCase() !== this.state.clientId) {
      return sendEntraError(
        ctx,
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${this.state.tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
    }
    const scope = form.get('scope');
    if (!scope) return sendEntraError(ctx, 400, 'invalid_request', 900144, "The request body must contain the following parameter: 'scope'.");
    const resourceScopes = scope.split(/\s+/).filter((s) => s && !['openid', 'profile', 'offline_access', 'email'].includes(s));
    const okScope = resourceScopes.length === 1 && [GRAPH_SCOPE, `${GRAPH_APP_ID}/.default`, 'https://graph.microsoft.com//.default'].includes(resourceScopes[0]!);
    // Entra's answer to a delegated-style scope in the client credentials flow.
    const notDefault = resourceScopes.find((s) => !s.endsWith('/.default'));
    if (notDefault) {
      return sendEntraError(ctx, 400, 'invalid_scope', 1002012, `The provided value for scope ${notDefault} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
    }
    if (!okScope) {
      return sendEntraError(ctx, 400, 'invalid_scope', 70011, `The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid. The simulator issues tokens only for ${GRAPH_SCOPE}.`);
    }

    const secret = form.get('client_secret') ?? basicSecret;
    const assertion = form.get('client_assertion');
    let acr: '1' | '2';
    if (assertion !== null) {
      if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
        return sendEntraError(ctx, 400, 'invalid_request', 700025, "Client assertion type is invalid. Expected 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.");
      }
      const problem = this.checkAssertion(assertion, ctx, tenant);
      if (problem) return sendEntraError(ctx, 401, 'invalid_client', problem.code, problem.message);
      acr = '2';
    } else if (secret !== null) {
      const a = Buffer.from(secret);
      const b = Buffer.from(this.state.clientSecret);
      if (a.length !== b.length || !timingSafeEqual(a, b)) {
        return sendEntraError(
          ctx,
          401,
          'invalid_client',
          7000215,
          `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${this.state.clientId}'.`,
        );
      }
      if (this.secretExpiresAt !== null && this.secretExpiresAt <= Date.now()) {
        return sendEntraError(
          ctx,
          401,
          'invalid_client',
          7000222,
          `The provided client secret keys for app '${this.state.clientId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`,
        );
      }
      acr = '1';
    } else {
      return sendEntraError(ctx, 401, 'invalid_client', 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.");
    }
    const lifetime = this.lifetime();
    const accessToken = this.issue(acr, lifetime);
    send(
      ctx,
      200,
      JSON.stringify({ token_type: 'Bearer', expires_in: lifetime - 1, ext_expires_in: lifetime - 1, access_token: accessToken }),
      { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store, no-cache', pragma: 'no-cache', 'x-ms-request-id': ctx.requestId },
    );
  }

  private checkAssertion(assertion: string, ctx: Ctx, tenant: string): { code: number; message: string } | null {
    const jwt = decodeJwt(assertion, { allowPadding: true });
    if (!jwt) return { code: 700027, message: 'Client assertion failed signature validation. [Reason - The client assertion is not a well-formed JWT.]' };
    const x5t = typeof jwt.header.x5t === 'string' ? jwt.header.x5t : null;
    const x5t256 = typeof jwt.header['x5t#S256'] === 'string' ? (jwt.header['x5t#S256'] as string) : null;
    // Compared as the bytes they encode: clients differ in padding and alphabet (Python's azure-identity
    // sends padded base64url); Node's base64 decoder takes either alphabet, padded or not.
    const sameThumbprint = (sent: string, hex: string) => Buffer.from(sent, 'base64').equals(Buffer.from(hex, 'hex'));
    const used = x5t256 ?? x5t;
    if ((x5t256 && !sameThumbprint(x5t256, this.state.clientThumbprintSha256)) || (!x5t256 && x5t && !sameThumbprint(x5t, this.state.clientThumbprintSha1)) || (!x5t && !x5t256)) {
      const tp = used ? Buffer.from(used, 'base64url').toString('hex').toUpperCase() : '(none)';
      return {
        code: 700027,
        message: `Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '${tp}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${this.state.clientId}'.]`,
      };
    }
    if (!verifyJwtSignature(jwt, this.clientCertKey)) {
      return { code: 700027, message: `Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '${this.state.clientThumbprintSha1}', Found key 'Start=..., End=...']` };
    }
    const p = jwt.payload;
    const now = Math.floor(Date.now() / 1000);
    if (p.iss !== this.state.clientId || p.sub !== this.state.clientId) {
      return { code: 700027, message: `Client assertion failed signature validation. [Reason - The 'iss' and 'sub' claims must both be the client id '${this.state.clientId}'.]` };
    }
    const audiences = Array.isArray(p.aud) ? p.aud : [p.aud];
    const o = ctx.url.origin;
    const okAud = [`${o}/${tenant}/oauth2/v2.0/token`, `${o}/${this.state.tenantId}/oauth2/v2.0/token`, `${o}/${this.state.tenantId}/v2.0`, `${o}/${tenant}/v2.0`].map((s) => s.toLowerCase());
    if (!audiences.some((a) => typeof a === 'string' && okAud.includes(a.toLowerCase()))) {
      return { code: 700027, message: `Client assertion failed signature validation. [Reason - The audience claim is invalid. Expected '${o}/${this.state.tenantId}/oauth2/v2.0/token'.]` };
    }
    if (typeof p.exp !== 'number' || p.exp < now - 300 || (typeof p.nbf === 'number' && p.nbf > now + 300)) {
      return { code: 700024, message: `Client assertion is not within its valid time range. Current time: ${new Date().toISOString()}, assertion valid from ${typeof p.nbf === 'number' ? new Date(p.nbf * 1000).toISOString() : '?'}, expiry time of assertion ${typeof p.exp === 'number' ? new Date(p.exp * 1000).toISOString() : '?'}.` };
    }
    return null;
  }

  /** Issues an app-only access token for Graph (v1.0-style claims, RS256 with the simulator's key). */
  issue(acr: '1' | '2' = '1', lifetimeSeconds = this.lifetime(), overrides: Record<string, unknown> = {}): string {
    const now = Math.floor(Date.now() / 1000);
    const t = this.state.tenantId;
    const payload = {
      aud: 'https://graph.microsoft.com',
      iss: `https://sts.windows.net/${t}/`,
      iat: now,
      nbf: now,
      exp: now + lifetimeSeconds,
      aio: b64url(randomUUID()),
      app_displayname: this.opts.appDisplayName,
      appid: this.state.clientId,
      appidacr: acr,
      idp: `https://sts.windows.net/${t}/`,
      idtyp: 'app',
      oid: this.servicePrincipalId,
      rh: '0.simulator.',
      roles: this.opts.roles,
      sub: this.servicePrincipalId,
      tenant_region_scope: 'EU',
      tid: t,
      uti: b64url(randomUUID()).slice(0, 22),
      ver: '1.0',
      wids: ['0997a1d0-0d1d-4acb-b408-d5ca73121e90'],
      xms_tcdt: 1514764800,
      ...overrides,
    };
    return signJwt(payload, this.signingKey, { kid: this.kid, x5t: this.kid, nonce: b64url(randomUUID()) });
  }

  /** Validates `Authorization: Bearer ...` for Graph/admin requests; throws 401 InvalidAuthenticationToken. */
  verifyBearer(ctx: Ctx): AccessClaims {
    const fail = (message: string) =>
      new GraphFailure(401, 'InvalidAuthenticationToken', message, {
        'www-authenticate': `Bearer realm="", authorization_uri="${ctx.url.origin}/common/oauth2/authorize", client_id="${GRAPH_APP_ID}"`,
      });
    const h = header(ctx, 'authorization');
    if (!h || !/^Bearer\s+\S/i.test(h)) throw fail('Access token is empty.');
    const token = h.replace(/^Bearer\s+/i, '').trim();
    const jwt = decodeJwt(token);
    if (!jwt) throw fail('IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format.');
    if (jwt.header.alg !== 'RS256' || !verifyJwtSignature(jwt, this.signingPub)) throw fail('Access token validation failure. Invalid signature.');
    const p = jwt.payload;
    const now = Math.floor(Date.now() / 1000);
    if (typeof p.exp !== 'number' || p.exp <= now) throw fail('Lifetime validation failed, the token is expired.');
    if (typeof p.nbf === 'number' && p.nbf > now + 300) throw fail('Lifetime validation failed, the token is not yet valid.');
    if (typeof p.aud !== 'string' || !GRAPH_AUDIENCES.has(p.aud)) throw fail('Access token validation failure. Invalid audience.');
    if (p.tid !== this.state.tenantId) throw fail('Access token validation failure. Invalid issuer.');
    return { ...p, tid: p.tid, appid: String(p.appid), roles: Array.isArray(p.roles) ? p.roles.map(String) : [], exp: p.exp };
  }
}

function tenantNotFound(tenant: string): string {
  return `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`;
}
