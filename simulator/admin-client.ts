import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import type { StackInfo } from '../devstack/stack-file';

export type SimulatorAccess = Pick<StackInfo['graph'], 'authorityHost' | 'tenantId' | 'clientId' | 'clientSecret' | 'caFile'>;

/**
 * The simulator's Graph and admin (`/_admin`) API over HTTPS with its CA, with a token from its own
 * authority: how the tests, the resilience suite and the benchmark arrange data, inject faults and
 * read the request log. Not idflow's Graph client: that is sources/entra, through the real SDKs.
 */
export class SimulatorClient {
  private token: string | null = null;
  private agent: Agent | null = null;

  /** `keepAlive` suits many calls in a row (the benchmark); call close() when done. */
  constructor(private readonly access: SimulatorAccess, private readonly options: { keepAlive?: boolean } = {}) {}

  async call<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const res = await this.send(method, path, { ...headers, authorization: `Bearer ${await this.accessToken()}` }, body === undefined ? undefined : JSON.stringify(body), 'application/json');
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${res.body.slice(0, 300)}`);
    return (res.body ? JSON.parse(res.body) : undefined) as T;
  }

  close(): void {
    this.agent?.destroy();
    this.agent = null;
  }

  private async accessToken(): Promise<string> {
    if (this.token) return this.token;
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: this.access.clientId, client_secret: this.access.clientSecret, scope: 'https://graph.microsoft.com/.default' });
    const res = await this.send('POST', `/${this.access.tenantId}/oauth2/v2.0/token`, {}, form.toString(), 'application/x-www-form-urlencoded');
    if (res.status !== 200) throw new Error(`simulator token: ${res.status} ${res.body.slice(0, 300)}`);
    this.token = (JSON.parse(res.body) as { access_token: string }).access_token;
    return this.token;
  }

  private send(method: string, path: string, headers: Record<string, string>, body: string | undefined, type: string): Promise<{ status: number; body: string }> {
    // The CA is read on first use: a stack may create it after this client.
    this.agent ??= new Agent({ keepAlive: this.options.keepAlive ?? false, ca: readFileSync(this.access.caFile) });
    const url = new URL(path, this.access.authorityHost);
    return new Promise((resolve, reject) => {
      const req = request(url, { method, agent: this.agent!, headers: { ...headers, ...(body ? { 'content-type': type, 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (data += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }
}
