import { Command, CommanderError } from 'commander';
import { applyStackEnv } from '../devstack/stack-file';
import { codecServerCommand, keysCommand } from '../encryption';
import { auditCommand } from './audit';
import { CliError } from './client';
import { configCommand } from './config';
import { demoCommand } from './demo';
import { devCommand } from './dev';
import { eventCommand } from './event';
import { planCommand } from './plan';
import { decisionCommand } from './approve';
import { reconcileCommand } from './reconcile';
import { scheduleCommand } from './schedule';
import { statusCommand } from './status';
import { workerCommand } from './worker';

export function program(): Command {
  const root = new Command('idflow')
    .description('identity lifecycle engine: Entra ID to AWS IAM and SCIM 2.0, as durable Temporal workflows')
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions()
    .exitOverride()
    .addCommand(eventCommand())
    .addCommand(configCommand())
    .addCommand(planCommand())
    .addCommand(reconcileCommand())
    .addCommand(decisionCommand('approve'))
    .addCommand(decisionCommand('reject'))
    .addCommand(scheduleCommand())
    .addCommand(statusCommand())
    .addCommand(auditCommand())
    .addCommand(codecServerCommand())
    .addCommand(keysCommand())
    .addCommand(workerCommand())
    .addCommand(devCommand())
    .addCommand(demoCommand());
  // Subcommands added as objects do not inherit these; errors must reach main() to get exit code 2.
  const inherit = (cmd: Command) => {
    cmd.exitOverride().showHelpAfterError('(run with --help for usage)');
    cmd.commands.forEach(inherit);
  };
  inherit(root);
  return root;
}

export async function main(argv: string[]): Promise<number> {
  applyStackEnv();
  try {
    await program().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof CliError) {
      console.error(`idflow: ${err.message}`);
      return err.exitCode;
    }
    const message = err instanceof Error ? err.message : String(err);
    if (/Unknown encoding: binary\/encrypted/.test(message)) {
      console.error('idflow: payload is encrypted and no encryption key is configured (IDFLOW_ENCRYPTION_KEYS or IDFLOW_ENCRYPTION_KEY_FILE)');
      return 1;
    }
    console.error(`idflow: ${message}`);
    return 1;
  }
}
