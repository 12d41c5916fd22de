import { Command } from 'commander';
import { ConfigError } from '../domain/config-load';
import { referencedGroups, sourceSelect } from '../domain/mapping';
import { sourceCatalogue, sourceSummary } from '../sources/registry';
import { targetSummary } from '../targets/registry';
import { configPath, loadConfigFile } from '../activities/runtime';
import { CliError } from './client';

/** `idflow config check`: validates the config and shows what each target receives. Never prints a secret. */
export function configCommand(): Command {
  const cmd = new Command('config').description('work with idflow.config.yaml');
  cmd
    .command('check')
    .description('validate the config, resolve environment references and report what each target receives')
    .option('-c, --config <file>', 'config file (default $IDFLOW_CONFIG or idflow.config.yaml)')
    .option('--json', 'print machine-readable output')
    .action((opts: { config?: string; json?: boolean }) => {
      const file = opts.config ?? configPath();
      let loaded;
      try {
        loaded = loadConfigFile(file);
      } catch (err) {
        if (err instanceof ConfigError) throw new CliError(err.message, 2);
        throw new CliError((err as Error).message, 2);
      }
      const { config, targets, version } = loaded;
      const report = {
        file,
        version,
        instance: config.instance,
        source: { type: config.source.type, ...sourceSummary(config.source), select: sourceSelect(targets, sourceCatalogue(config.source.type)), groups: referencedGroups(targets) },
        targets: targets.map((t) => ({
          name: t.name,
          type: t.config.type,
          enabled: t.config.enabled,
          receives: t.sourceAttributes,
          writes: ['userName', ...t.attributes.map((a) => `${a.name}${a.apply === 'createOnly' ? ' (on create)' : ''}`)],
          scope: { groups: t.config.scope.groups ?? [], filters: t.config.scope.filters.length, includeDisabled: t.config.scope.includeDisabled },
          onLeaveScope: t.config.onLeaveScope,
          managedGroups: t.managedGroups,
          ...targetSummary(t.config, process.env),
        })),
      };
      if (opts.json) {
        console.log(JSON.stringify(report, null, 2));
        return;
      }
      console.log(`${file}: valid (version ${version}, instance "${config.instance}")`);
      const { select, groups, ...where } = report.source;
      console.log(`source ${config.source.type}: ${Object.entries(where).filter(([k]) => k !== 'type').map(([, v]) => v).join(' ')}\n  select ${select.join(',')}\n  groups read: ${groups.map((g) => `"${g}"`).join(', ') || '-'}`);
      for (const t of report.targets) {
        console.log(`target ${t.name} (${t.type}${t.enabled ? '' : ', disabled'})`);
        console.log(`  receives source attributes: ${t.receives.join(', ') || '-'}`);
        console.log(`  writes: ${t.writes.join(', ')}`);
        console.log(`  scope: ${t.scope.groups.length ? `members of ${t.scope.groups.join(' or ')}` : 'everyone'}${t.scope.filters ? `, ${t.scope.filters} filters` : ''}${t.scope.includeDisabled ? '' : ', enabled accounts only'}; leaving scope: ${t.onLeaveScope}`);
        console.log(`  managed groups: ${t.managedGroups.join(', ') || '-'}`);
        if ('token' in t) console.log(`  token: ${t.token}`);
      }
    });
  return cmd;
}
