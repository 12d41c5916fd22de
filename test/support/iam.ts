import { GetUserCommand, ListGroupsForUserCommand, ListUsersCommand } from '@aws-sdk/client-iam';
import { iamClient } from './stack';

const iam = iamClient();

export async function userTags(userName: string): Promise<Record<string, string>> {
  const { User } = await iam.send(new GetUserCommand({ UserName: userName }));
  return Object.fromEntries((User!.Tags ?? []).map((t) => [t.Key!, t.Value!]));
}

export async function userGroups(userName: string): Promise<string[]> {
  const { Groups } = await iam.send(new ListGroupsForUserCommand({ UserName: userName }));
  return (Groups ?? []).map((g) => g.GroupName!).sort();
}

export async function idflowUsers(): Promise<string[]> {
  const { Users } = await iam.send(new ListUsersCommand({ PathPrefix: '/idflow/' }));
  return (Users ?? []).map((u) => u.UserName!).sort();
}

export async function userExists(userName: string): Promise<boolean> {
  try {
    await iam.send(new GetUserCommand({ UserName: userName }));
    return true;
  } catch (err) {
    if ((err as Error).name === 'NoSuchEntityException' || (err as Error).name === 'NoSuchEntity') return false;
    throw err;
  }
}

export async function eventually<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await fn();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
    last = await fn();
  }
  return last;
}
