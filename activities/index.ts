import { deltaActivities } from './delta';
import { identityActivities } from './identity';
import { reconcileActivities } from './reconcile';
import type { Runtime } from './runtime';

export function createActivities(runtime: Runtime) {
  const { planLive: _planLive, ...reconcile } = reconcileActivities(runtime);
  return { ...identityActivities(runtime), ...reconcile, ...deltaActivities(runtime) };
}

export type IdflowActivities = ReturnType<typeof createActivities>;
