/**
 * CLI: node dist/simulator/main.js --state-dir .idflow/entra --port 0 --users 300 --seed 42 [--seed-file f.json]
 * Prints one JSON line {"ready":true,...} on stdout when listening, then one short line per request on stderr.
 */
import { parseArgs } from 'node:util';
import { startSimulator } from './index';

const HELP = `idflow Entra ID / Microsoft Graph simulator

Options:
  --state-dir DIR            CA, certificates, credentials (default .idflow/entra)
  --host HOST                listen address (default 127.0.0.1)
  --port N                   0 = random free port (default 0)
  --users N                  generated organisation size (default 300)
  --groups N                 generated groups, at least 10 (default 12)
  --seed N                   PRNG seed (default 42)
  --seed-file FILE           JSON seed file instead of a generated organisation
  --page-size N              default page size (default 100)
  --token-lifetime S         access token lifetime in seconds (default: 60 to 90 minutes, as Entra's)
  --delta-members-per-page N members@delta per group entry (default 50)
  --quiet                    no request log on stderr
  --help
`;

function int(name: string, v: string | undefined, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`--${name} must be an integer >= ${min}\n`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        'state-dir': { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        users: { type: 'string' },
        groups: { type: 'string' },
        seed: { type: 'string' },
        'seed-file': { type: 'string' },
        'page-size': { type: 'string' },
        'token-lifetime': { type: 'string' },
        'delta-members-per-page': { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${HELP}`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const quiet = values.quiet ?? false;
  const sim = await startSimulator({
    stateDir: values['state-dir'] ?? '.idflow/entra',
    host: values.host ?? '127.0.0.1',
    port: int('port', values.port, 0),
    users: int('users', values.users, 300),
    groups: int('groups', values.groups, 12),
    seed: int('seed', values.seed, 42),
    seedFile: values['seed-file'],
    pageSizeDefault: int('page-size', values['page-size'], 100, 1),
    tokenLifetimeSeconds: values['token-lifetime'] === undefined ? undefined : int('token-lifetime', values['token-lifetime'], 3600, 60),
    deltaMembersPerPage: int('delta-members-per-page', values['delta-members-per-page'], 50, 1),
    onRequest: quiet
      ? undefined
      : (e) => {
          const path = e.path.length > 160 ? `${e.path.slice(0, 157)}...` : e.path;
          process.stderr.write(`${e.time} ${e.method} ${path} ${e.status} ${e.durationMs}ms${e.faultId ? ' (fault)' : ''}\n`);
        },
  });
  const ready = {
    ready: true,
    url: sim.url,
    graphBaseUrl: sim.graphBaseUrl,
    authorityHost: sim.authorityHost,
    tenantId: sim.tenantId,
    clientId: sim.clientId,
    clientSecret: sim.clientSecret,
    clientCertificatePath: sim.clientCertificatePath,
    caFile: sim.caFile,
    users: sim.directory.stats().users,
    groups: sim.directory.stats().groups,
    startupMs: sim.timings.totalMs,
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    if (!quiet) process.stderr.write(`simulator: ${sig}, shutting down\n`);
    const force = setTimeout(() => process.exit(0), 3000);
    force.unref();
    void sim.close().then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((e: unknown) => {
  process.stderr.write(`simulator: failed to start: ${(e as Error)?.message ?? String(e)}\n`);
  process.exit(1);
});
