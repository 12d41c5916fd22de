import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * NODE_EXTRA_CA_CERTS names one file and is read only when Node starts. Machines often set it
 * already (a corporate or distribution bundle), so the local CA is added to that bundle rather than
 * replacing it: the result is written next to the CA and is what child processes get.
 */
export function caBundle(caFile: string, existing: string | undefined = process.env.NODE_EXTRA_CA_CERTS): string {
  const bundle = join(dirname(resolve(caFile)), 'ca-bundle.pem');
  if (existing && resolve(existing) === bundle) return bundle;
  const parts = [readFileSync(caFile, 'utf8').trim()];
  if (existing && existsSync(existing)) parts.push(readFileSync(existing, 'utf8').trim());
  writeFileSync(bundle, `${parts.join('\n')}\n`);
  return bundle;
}
