import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TEST_STACK_ENV, testStack } from '../support/stack';

/** The local stack keeps its secrets and personal data to the user running it. */
const stateDir = dirname(process.env[TEST_STACK_ENV]!);

/** Every process's command line, as any local user can read it (ps, /proc). */
function commandLines(): string[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((pid) => {
    try {
      return [readFileSync(join('/proc', pid, 'cmdline'), 'utf8').split('\0').join(' ')];
    } catch {
      return [];
    }
  });
}

test("the SCIM token is in no process's command line", () => {
  const { token, baseUrl } = testStack().scim;
  const lines = commandLines();
  const port = new URL(baseUrl).port;
  // The server is running, found by its port: the check looks at the right process.
  expect(lines.some((l) => l.includes('scim_server.py') && l.includes(port))).toBe(true);
  expect(lines.filter((l) => l.includes(token))).toEqual([]);
});

test('the state directory and the logs are readable by their owner only', () => {
  expect(statSync(stateDir).mode & 0o777).toBe(0o700);
  const logs = join(stateDir, 'logs');
  expect(statSync(logs).mode & 0o777).toBe(0o700);
  const files = readdirSync(logs);
  expect(files.length).toBeGreaterThan(3);
  for (const f of files) expect([f, statSync(join(logs, f)).mode & 0o777]).toEqual([f, 0o600]);
});
