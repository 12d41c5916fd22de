import type { RunningStack } from '../devstack/stack';

export default async function globalTeardown(): Promise<void> {
  const stack = (globalThis as { idflowTestStack?: RunningStack }).idflowTestStack;
  await stack?.stop();
}
