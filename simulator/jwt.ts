/** Minimal JWS (compact) signing and verification with node:crypto: RS256 and PS256. */
import { constants, createPrivateKey, createPublicKey, KeyObject, sign, verify } from 'node:crypto';
import { b64url, fromB64url, isPlainObject } from './util';

export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

export function signJwt(payload: object, keyPem: string | KeyObject, header: Record<string, unknown>): string {
  const key = typeof keyPem === 'string' ? createPrivateKey(keyPem) : keyPem;
  const h = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', ...header }));
  const p = b64url(JSON.stringify(payload));
  const input = `${h}.${p}`;
  const sig = sign('sha256', Buffer.from(input), key);
  return `${input}.${b64url(sig)}`;
}

/**
 * Parses a compact JWS; returns null when it is not one. `allowPadding` takes segments with base64url
 * padding ('='), as Entra's token endpoint does for client assertions (Python azure-identity's async
 * CertificateCredential pads every segment); the signature is still checked over the segments as sent.
 */
export function decodeJwt(token: string, opts: { allowPadding?: boolean } = {}): DecodedJwt | null {
  const parts = token.split('.');
  const segment = opts.allowPadding ? /^[A-Za-z0-9_-]*={0,2}$/ : /^[A-Za-z0-9_-]*$/;
  if (parts.length !== 3 || parts.some((p) => !segment.test(p))) return null;
  try {
    const header: unknown = JSON.parse(fromB64url(parts[0]!).toString('utf8'));
    const payload: unknown = JSON.parse(fromB64url(parts[1]!).toString('utf8'));
    if (!isPlainObject(header) || !isPlainObject(payload)) return null;
    return { header, payload, signingInput: `${parts[0]}.${parts[1]}`, signature: fromB64url(parts[2]!) };
  } catch {
    return null;
  }
}

/** Verifies the signature of a decoded JWT with an RSA public key (PEM, certificate or KeyObject). */
export function verifyJwtSignature(jwt: DecodedJwt, key: string | KeyObject): boolean {
  const pub = typeof key === 'string' ? createPublicKey(key) : key;
  const data = Buffer.from(jwt.signingInput);
  try {
    switch (jwt.header.alg) {
      case 'RS256':
        return verify('sha256', data, pub, jwt.signature);
      case 'PS256':
        return verify('sha256', data, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, jwt.signature);
      default:
        return false;
    }
  } catch {
    return false;
  }
}
