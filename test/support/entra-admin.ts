import { SimulatorClient } from '../../simulator/admin-client';
import { testStack } from './stack';

/** The Entra ID simulator's Graph and admin API on the test stack, for arranging tests. */
export class EntraAdmin extends SimulatorClient {
  constructor() {
    super(testStack().graph);
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
}
