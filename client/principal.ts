import { X509Certificate } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { TemporalSettings } from '../workers/connection';

export interface Principal {
  /** Who is acting, as recorded on a decision. */
  name: string;
  /** How it was established: the client certificate Temporal accepted, or only the local OS account. */
  via: 'mtls-certificate' | 'os-account';
}

/**
 * Who is deciding: the subject of the client certificate the Temporal connection authenticates with
 * (the principal the cluster's authorizer sees), else the OS account running the command. Never an
 * environment variable such as $USER, which anyone can set.
 */
export function currentPrincipal(settings: TemporalSettings): Principal {
  const crt = settings.tls?.clientCertPair?.crt;
  if (crt) {
    const cert = new X509Certificate(crt);
    const email = cert.subjectAltName?.split(', ').find((n) => n.startsWith('email:'))?.slice('email:'.length);
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
    return { name: email ?? cn ?? cert.subject.replace(/\n/g, ', '), via: 'mtls-certificate' };
  }
  return { name: `${userInfo().username}@${hostname()}`, via: 'os-account' };
}
