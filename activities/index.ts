import { identityActivities } from './identity';
import type { Runtime } from './runtime';

export function createActivities(runtime: Runtime) {
  return { ...identityActivities(runtime) };
}

export type IdflowActivities = ReturnType<typeof createActivities>;
