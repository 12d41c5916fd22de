/** Opaque, tamper-evident page/delta tokens: base64url(JSON) + '.' + truncated HMAC. */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { b64url, fromB64url } from './util';

export class TokenCodec {
  /** The key is derived from the state dir's secrets, so tokens stay verifiable across restarts (they then answer 410, not 400). */
  constructor(private readonly key: Buffer) {}

  encode(payload: object): string {
    const body = b64url(JSON.stringify(payload));
    return `${body}.${this.mac(body)}`;
  }

  /** Returns null when the token is malformed or was not issued by this simulator process. */
  decode<T>(token: string): T | null {
    const dot = token.lastIndexOf('.');
    if (dot <= 0) return null;
    const body = token.slice(0, dot);
    const mac = Buffer.from(token.slice(dot + 1));
    const want = Buffer.from(this.mac(body));
    if (mac.length !== want.length || !timingSafeEqual(mac, want)) return null;
    try {
      return JSON.parse(fromB64url(body).toString('utf8')) as T;
    } catch {
      return null;
    }
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url').slice(0, 16);
  }
}
