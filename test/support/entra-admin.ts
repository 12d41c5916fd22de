import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { testStack } from './stack';

/** The Entra ID simulator's Graph and admin API, over HTTPS with the stack's CA, for arranging tests. */
export class EntraAdmin {
  private token: string | null = null;
  private readonly info = testStack().graph;
  private readonly ca = readFileSync(this.info.caFile);

  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${await this.accessToken()}` };
    const res = await this.send(method, path, headers, body === undefined ? undefined : JSON.stringify(body), 'application/json');
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${res.body}`);
    return (res.body ? JSON.parse(res.body) : undefined) as T;
  }

  async userId(employeeId: string): Promise<string> {
    const page = await this.call<{ value: { id: string }[] }>('GET', `/v1.0/users?$filter=${encodeURIComponent(`employeeId eq '${employeeId}'`)}&$select=id`);
    if (!page.value[0]) throw new Error(`no simulated user ${employeeId}`);
    return page.value[0].id;
  }

  async setUser(employeeId: string, patch: Record<string, unknown>): Promise<void> {
    await this.call('PATCH', `/_admin/users/${await this.userId(employeeId)}`, patch);
  }

  async reset(): Promise<void> {
    await this.call('POST', '/_admin/reset');
  }

  private async accessToken(): Promise<string> {
    if (this.token) return this.token;
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: this.info.clientId, client_secret: this.info.clientSecret, scope: 'https://graph.microsoft.com/.default' });
    const res = await this.send('POST', `/${this.info.tenantId}/oauth2/v2.0/token`, {}, form.toString(), 'application/x-www-form-urlencoded');
    if (res.status !== 200) throw new Error(`token: ${res.status} ${res.body}`);
    this.token = (JSON.parse(res.body) as { access_token: string }).access_token;
    return this.token;
  }

  private send(method: string, path: string, headers: Record<string, string>, body: string | undefined, type: string): Promise<{ status: number; body: string }> {
    const url = new URL(path, this.info.authorityHost);
    return new Promise((resolve, reject) => {
      const req = request(url, { method, ca: this.ca, headers: { ...headers, ...(body ? { 'content-type': type, 'content-length': Buffer.byteLength(body) } : {}) } }, (res) => {
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
