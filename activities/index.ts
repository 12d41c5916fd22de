import { deltaActivities } from './delta';
import { identityActivities } from './identity';
import { reconcileActivities } from './reconcile';
import { revocationGuardActivities } from './revocation-guard';
import { revokeActivities } from './revoke';
import type { Runtime } from './runtime';

export function createActivities(runtime: Runtime) {
  const { planLive: _planLive, ...reconcile } = reconcileActivities(runtime);
  return { ...identityActivities(runtime), ...revokeActivities(runtime), ...revocationGuardActivities(runtime), ...reconcile, ...deltaActivities(runtime) };
}

export type IdflowActivities = ReturnType<typeof createActivities>;
