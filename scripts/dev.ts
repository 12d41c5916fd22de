import { Command, Option } from 'commander';
import { DEFAULT_PORTS, type RunningStack, startStack } from '../devstack/stack';
import { STACK_FILE, STATE_DIR, type StackInfo } from '../devstack/stack-file';

/** `idflow dev`: the whole local stack in the foreground, stopped cleanly on Ctrl-C or SIGTERM. */
export function devCommand(): Command {
  return new Command('dev')
    .description('start the local stack: Temporal dev server + UI, Entra ID simulator, moto (IAM), scim2-server and the worker')
    .addOption(new Option('--temporal-port <port>').default(String(DEFAULT_PORTS.temporal)))
    .addOption(new Option('--ui-port <port>').default(String(DEFAULT_PORTS.temporalUi)))
    .addOption(new Option('--graph-port <port>').default(String(DEFAULT_PORTS.graph)))
    .addOption(new Option('--iam-port <port>').default(String(DEFAULT_PORTS.iam)))
    .addOption(new Option('--scim-port <port>').default(String(DEFAULT_PORTS.scim)))
    .option('--strict-ports', 'fail when a port is taken instead of picking a free one')
    .option('--users <n>', 'size of the simulated organisation', '300')
    .option('--no-worker', 'do not start a worker')
    .action(async (opts) => {
      const stack = await startDevStack(opts);
      printStack(stack.info);
      console.log('\nidflow dev: running; press Ctrl-C to stop');
      await untilSignal();
      console.log('idflow dev: stopping');
      await stack.stop();
      console.log('idflow dev: stopped');
    });
}

export async function startDevStack(opts: { temporalPort?: string; uiPort?: string; graphPort?: string; iamPort?: string; scimPort?: string; strictPorts?: boolean; users?: string; worker?: boolean }): Promise<RunningStack> {
  const num = (v: string | undefined, d: number) => (v === undefined ? d : Number.parseInt(v, 10));
  return startStack({
    stateDir: STATE_DIR,
    stackFile: STACK_FILE,
    persistTemporal: true,
    worker: opts.worker !== false,
    users: num(opts.users, 300),
    allowOtherPorts: !opts.strictPorts,
    ports: {
      temporal: num(opts.temporalPort, DEFAULT_PORTS.temporal),
      temporalUi: num(opts.uiPort, DEFAULT_PORTS.temporalUi),
      graph: num(opts.graphPort, DEFAULT_PORTS.graph),
      iam: num(opts.iamPort, DEFAULT_PORTS.iam),
      scim: num(opts.scimPort, DEFAULT_PORTS.scim),
    },
  });
}

export function printStack(info: StackInfo): void {
  console.log(`Temporal        ${info.temporal.address} (namespace ${info.temporal.namespace})`);
  if (info.temporal.uiUrl) console.log(`Temporal UI     ${info.temporal.uiUrl}`);
  console.log(`Entra ID (sim)  ${info.graph.baseUrl}  tenant ${info.graph.tenantId}  client ${info.graph.clientId}`);
  console.log(`  CA file       ${info.graph.caFile}`);
  console.log(`AWS IAM (moto)  ${info.iam.endpoint}  region ${info.iam.region}`);
  console.log(`SCIM 2.0        ${info.scim.baseUrl}`);
  if (info.encryption.codecUrl) console.log(`Codec server    ${info.encryption.codecUrl}  (temporal workflow show --codec-endpoint ${info.encryption.codecUrl} --codec-auth "Bearer $(jq -r .encryption.codecToken .idflow/stack.json)")`);
  console.log(`Config          ${info.config}`);
  console.log(`Stack file      ${STACK_FILE} (holds the local secrets; mode 600)`);
}

export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const done = (signal: NodeJS.Signals) => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve(signal);
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
