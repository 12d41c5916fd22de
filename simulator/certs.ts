/**
 * State directory: local CA, server certificate, the app's client certificate, the token-signing key and the
 * client secret. Created on first run, reused afterwards (the CA is generated once; leaf certificates are
 * regenerated when missing, expired, not issued by the current CA or not covering the host).
 */
import { createHash, generateKeyPair, randomBytes, X509Certificate } from 'node:crypto';
import { promises as fsp, constants as fsc } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as net from 'node:net';
import forge from 'node-forge';

export const TENANT_ID = '8f1c2d3e-4b5a-4c6d-9e7f-0a1b2c3d4e5f';
export const CLIENT_ID = '3d9f6a2b-7c1e-4f8a-b5d4-6e2c9a1f0b7d';
export const TENANT_DOMAIN = 'contoso.example';

export interface SimulatorState {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  caFile: string;
  caPem: string;
  serverKeyPem: string;
  serverCertPem: string;
  clientCertificatePath: string;
  /** PEM of the registered client certificate (public part only). */
  clientCertPem: string;
  /** SHA-1 / SHA-256 thumbprints (upper-case hex) of the client certificate's DER. */
  clientThumbprintSha1: string;
  clientThumbprintSha256: string;
  signingKeyPem: string;
  signingCertPem: string;
  /** Milliseconds spent generating keys/certs in this call (0 when everything was reused). */
  generatedMs: number;
  generatedCa: boolean;
}

const genKeyPair = promisify(generateKeyPair);

async function newRsaKey(): Promise<string> {
  const { privateKey } = await genKeyPair('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return privateKey;
}

async function readIf(file: string): Promise<string | null> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Atomic write (tmp + rename) with an explicit mode. */
async function writeFileAtomic(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await fsp.writeFile(tmp, data, { mode });
  await fsp.chmod(tmp, mode);
  await fsp.rename(tmp, file);
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

function makeCert(opts: {
  subjectCN: string;
  publicKeyPem: string;
  issuer: { cert: forge.pki.Certificate | null; keyPem: string };
  days: number;
  ca: boolean;
  altNames?: { type: number; value?: string; ip?: string }[];
  serverAuth?: boolean;
  clientAuth?: boolean;
}): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(opts.publicKeyPem);
  cert.serialNumber = serial();
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(now.getTime() + opts.days * 24 * 60 * 60 * 1000);
  const subject = [{ name: 'commonName', value: opts.subjectCN }, { name: 'organizationName', value: 'idflow simulator' }];
  cert.setSubject(subject);
  cert.setIssuer(opts.issuer.cert ? opts.issuer.cert.subject.attributes : subject);
  const ext: object[] = [
    { name: 'basicConstraints', cA: opts.ca, critical: true },
    opts.ca
      ? { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true }
      : { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ];
  if (opts.serverAuth || opts.clientAuth) ext.push({ name: 'extKeyUsage', serverAuth: !!opts.serverAuth, clientAuth: !!opts.clientAuth });
  if (opts.altNames) ext.push({ name: 'subjectAltName', altNames: opts.altNames });
  if (opts.issuer.cert) {
    const ski = opts.issuer.cert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | null;
    if (ski?.subjectKeyIdentifier) ext.push({ name: 'authorityKeyIdentifier', keyIdentifier: forge.util.hexToBytes(ski.subjectKeyIdentifier) });
  }
  cert.setExtensions(ext);
  cert.sign(forge.pki.privateKeyFromPem(opts.issuer.keyPem) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  // node's crypto parses PEM with either line ending; keep \n for readability.
  return forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n');
}

function publicPemOf(privatePem: string): string {
  const key = forge.pki.privateKeyFromPem(privatePem) as forge.pki.rsa.PrivateKey;
  return forge.pki.publicKeyToPem(forge.pki.setRsaPublicKey(key.n, key.e));
}

function certOk(certPem: string | null, caPem: string, hosts: string[], minDaysLeft: number): boolean {
  if (!certPem) return false;
  try {
    const c = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    if (!c.checkIssued(ca) || !c.verify(ca.publicKey)) return false;
    if (new Date(c.validTo).getTime() - Date.now() < minDaysLeft * 86400_000) return false;
    for (const h of hosts) {
      if (net.isIP(h) ? !c.checkIP(h) : !c.checkHost(h)) return false;
    }
    return true;
  } catch {
    return false;
  }
}

function altNamesFor(hosts: string[]): { type: number; value?: string; ip?: string }[] {
  return hosts.map((h) => (net.isIP(h) ? { type: 7, ip: h } : { type: 2, value: h }));
}

/** Simple exclusive lock so two simulators starting on one state dir don't both create a CA. */
async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(dir, '.lock');
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const h = await fsp.open(lock, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, 0o600);
      await h.writeFile(String(process.pid));
      await h.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const st = await fsp.stat(lock).catch(() => null);
      if (st && Date.now() - st.mtimeMs > 20_000) await fsp.rm(lock, { force: true });
      if (Date.now() > deadline) throw new Error(`state dir ${dir} is locked (${lock})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await fsp.rm(lock, { force: true });
  }
}

function thumbprints(certPem: string): { sha1: string; sha256: string } {
  const der = new X509Certificate(certPem).raw;
  return {
    sha1: createHash('sha1').update(der).digest('hex').toUpperCase(),
    sha256: createHash('sha256').update(der).digest('hex').toUpperCase(),
  };
}

/** Entra-looking secret: 3 chars, a digit, 'Q~', then 34 chars. */
function newClientSecret(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~';
  const bytes = randomBytes(40);
  const chars = [...bytes].map((b) => alphabet[b % alphabet.length]);
  return `${chars.slice(0, 3).join('')}8Q~${chars.slice(3, 37).join('')}`;
}

export async function ensureState(stateDir: string, host: string): Promise<SimulatorState> {
  const dir = path.resolve(stateDir);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  return withLock(dir, async () => {
    const t0 = Date.now();
    let generated = false;
    const p = (f: string) => path.join(dir, f);

    // Keys that may be needed, generated in parallel (node's native RSA keygen).
    let caKey = await readIf(p('ca.key'));
    let caPem = await readIf(p('ca.crt'));
    const generatedCa = !caKey || !caPem;
    const hosts = [...new Set(['localhost', '127.0.0.1', '::1', host])];
    const serverCertPem0 = await readIf(p('server.crt'));
    const serverKey0 = await readIf(p('server.key'));
    const clientPem0 = await readIf(p('client.pem'));
    const signingKey0 = await readIf(p('token-signing.key'));
    const signingCert0 = await readIf(p('token-signing.crt'));

    const needServer = generatedCa || !serverKey0 || !certOk(serverCertPem0, caPem ?? '', hosts, 7);
    const needClient = generatedCa || !clientPem0 || !/BEGIN CERTIFICATE/.test(clientPem0) || !/PRIVATE KEY/.test(clientPem0);
    const needSigning = generatedCa || !signingKey0 || !certOk(signingCert0, caPem ?? '', [], 7);

    const [newCaKey, newServerKey, newClientKey, newSigningKey] = await Promise.all([
      generatedCa ? newRsaKey() : Promise.resolve(null),
      needServer ? newRsaKey() : Promise.resolve(null),
      needClient ? newRsaKey() : Promise.resolve(null),
      needSigning ? newRsaKey() : Promise.resolve(null),
    ]);

    if (generatedCa) {
      generated = true;
      caKey = newCaKey!;
      caPem = makeCert({
        subjectCN: 'idflow simulator local CA',
        publicKeyPem: publicPemOf(caKey),
        issuer: { cert: null, keyPem: caKey },
        days: 3650,
        ca: true,
      });
      await writeFileAtomic(p('ca.key'), caKey, 0o600);
      await writeFileAtomic(p('ca.crt'), caPem, 0o644);
    }
    const caCert = forge.pki.certificateFromPem(caPem!);

    let serverKeyPem = serverKey0 ?? '';
    let serverCertPem = serverCertPem0 ?? '';
    if (needServer) {
      generated = true;
      serverKeyPem = newServerKey!;
      serverCertPem = makeCert({
        subjectCN: 'localhost',
        publicKeyPem: publicPemOf(serverKeyPem),
        issuer: { cert: caCert, keyPem: caKey! },
        days: 397,
        ca: false,
        serverAuth: true,
        altNames: altNamesFor(hosts),
      });
      await writeFileAtomic(p('server.key'), serverKeyPem, 0o600);
      await writeFileAtomic(p('server.crt'), serverCertPem, 0o644);
    }

    let clientPem = clientPem0 ?? '';
    if (needClient) {
      generated = true;
      const key = newClientKey!;
      // Apps usually register a self-signed certificate; Entra only compares the key.
      const cert = makeCert({
        subjectCN: 'idflow-simulator-client',
        publicKeyPem: publicPemOf(key),
        issuer: { cert: null, keyPem: key },
        days: 3650,
        ca: false,
        clientAuth: true,
      });
      clientPem = `${key.trim()}\n${cert.trim()}\n`;
      await writeFileAtomic(p('client.pem'), clientPem, 0o600);
      await writeFileAtomic(p('client.crt'), `${cert.trim()}\n`, 0o644);
    }
    const clientCertPem = clientPem.slice(clientPem.indexOf('-----BEGIN CERTIFICATE-----'));

    let signingKeyPem = signingKey0 ?? '';
    let signingCertPem = signingCert0 ?? '';
    if (needSigning) {
      generated = true;
      signingKeyPem = newSigningKey!;
      signingCertPem = makeCert({
        subjectCN: 'idflow simulator token signing',
        publicKeyPem: publicPemOf(signingKeyPem),
        issuer: { cert: caCert, keyPem: caKey! },
        days: 3650,
        ca: false,
      });
      await writeFileAtomic(p('token-signing.key'), signingKeyPem, 0o600);
      await writeFileAtomic(p('token-signing.crt'), signingCertPem, 0o644);
    }

    // Credentials: fixed ids, random secret persisted on first run.
    let clientSecret: string | null = null;
    const credText = await readIf(p('credentials.json'));
    if (credText) {
      try {
        const c = JSON.parse(credText) as { clientSecret?: unknown };
        if (typeof c.clientSecret === 'string' && c.clientSecret.length >= 16) clientSecret = c.clientSecret;
      } catch {
        clientSecret = null;
      }
    }
    if (!clientSecret) {
      clientSecret = newClientSecret();
      const doc = { tenantId: TENANT_ID, clientId: CLIENT_ID, clientSecret, createdDateTime: new Date().toISOString() };
      await writeFileAtomic(p('credentials.json'), `${JSON.stringify(doc, null, 2)}\n`, 0o600);
    }

    const tp = thumbprints(clientCertPem);
    return {
      tenantId: TENANT_ID,
      clientId: CLIENT_ID,
      clientSecret,
      caFile: p('ca.crt'),
      caPem: caPem!,
      serverKeyPem,
      serverCertPem,
      clientCertificatePath: p('client.pem'),
      clientCertPem,
      clientThumbprintSha1: tp.sha1,
      clientThumbprintSha256: tp.sha256,
      signingKeyPem,
      signingCertPem,
      generatedMs: generated ? Date.now() - t0 : 0,
      generatedCa,
    };
  });
}
