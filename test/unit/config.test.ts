import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../domain/config-load';
import { sourceSelect } from '../../domain/mapping';
import { parseIdflowConfig as parseConfig } from '../../runtime/plugins';
import { ENTRA_CATALOGUE } from '../../sources/entra/attributes';

const root = join(__dirname, '..', '..');

function problems(text: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(text, 'test.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.line ?? '-'} ${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

describe('config', () => {
  test('the shipped example config is valid and asks Graph only for what its mappings use', () => {
    const { targets } = parseConfig(readFileSync(join(root, 'idflow.config.yaml'), 'utf8'), 'idflow.config.yaml', {});
    expect(sourceSelect(targets, ENTRA_CATALOGUE)).toEqual(['accountEnabled', 'department', 'displayName', 'employeeId', 'givenName', 'id', 'jobTitle', 'mail', 'surname', 'userPrincipalName']);
    expect(targets.find((t) => t.name === 'aws')!.sourceAttributes).toEqual(['department', 'displayName', 'jobTitle', 'userPrincipalName']);
  });

  test('errors name the path, the line and what was expected', () => {
    const text = ['version: 1', 'targets:', '  aws:', '    type: aws-iam', '    userName: lowr(mail)', '    path: idflow', '    colour: blue', '    attributes:', '      Team: departmnt'].join('\n');
    expect(problems(text)).toEqual([
      '6 targets.aws.path: an IAM path such as /idflow/',
      '7 targets.aws: unknown key colour',
    ]);
    expect(problems(text.replace('    path: idflow\n    colour: blue\n', ''))).toEqual([
      '5 targets.aws.userName: unknown function "lowr" at column 1; did you mean "lower"?',
      expect.stringMatching(/^7 targets.aws.attributes.Team: unknown attribute "departmnt".*did you mean "department"/),
    ]);
  });

  test('target attribute names are checked for the target: reserved IAM tag keys, unsupported SCIM paths', () => {
    const iam = 'version: 1\ntargets:\n  aws:\n    type: aws-iam\n    userName: mail\n    attributes:\n      idflow:owner: department\n      "bad key!": department\n';
    expect(problems(iam)).toEqual([
      '7 targets.aws.attributes.idflow:owner: tag key "idflow:owner" is reserved (idflow: for idflow\'s own markers, aws: for AWS)',
      '8 targets.aws.attributes.bad key!: tag key "bad key!" has characters IAM does not allow',
    ]);
    const scim = 'version: 1\ntargets:\n  app:\n    type: scim\n    baseUrl: https://x.example/v2\n    tokenEnv: T\n    userName: mail\n    attributes:\n      favouriteColour: department\n';
    expect(problems(scim)).toEqual(['9 targets.app.attributes.favouriteColour: "favouriteColour" is not a supported SCIM attribute path (see docs/targets.md)']);
  });

  test('an unset environment reference is an error that names the variable', () => {
    const text = 'version: 1\ntargets:\n  app:\n    type: scim\n    baseUrl: ${env:SCIM_URL}\n    tokenEnv: SCIM_TOKEN\n    userName: mail\n';
    expect(problems(text)).toEqual(['5 targets.app.baseUrl: environment variable SCIM_URL is not set']);
    expect(problems(text, { SCIM_URL: 'https://scim.example/v2' })).toEqual([]);
  });

  test('YAML syntax errors carry their line', () => {
    expect(problems('version: 1\ntargets:\n  aws: [unclosed\n')[0]).toMatch(/^\d+ : /);
  });

  test('lifecycle.sourceLagWait is bounded: each retry is history, and replication lag is seconds', () => {
    const targets = 'targets:\n  app:\n    type: scim\n    baseUrl: https://scim.example/v2\n    tokenEnv: SCIM_TOKEN\n    userName: mail\n';
    expect(problems(`version: 1\nlifecycle:\n  sourceLagWait: 2 minutes\n${targets}`)).toEqual([]);
    expect(problems(`version: 1\nlifecycle:\n  sourceLagWait: 1 day\n${targets}`)).toEqual(['3 lifecycle.sourceLagWait: at most 15 minutes: each round is history, and replication lag is seconds']);
  });

  test('a recursive YAML alias is a config error naming where, not a stack overflow', () => {
    expect(problems('version: 1\nlifecycle: &x\n  again: *x\n')).toEqual(['3 lifecycle.again: a YAML alias refers to a node that contains it (a recursive alias); a config must be a tree']);
  });

  test('a schedule every zero minutes is refused', () => {
    expect(problems('version: 1\ntargets: {}\nschedules:\n  reconcile:\n    every: 0 minutes\n')).toContainEqual(expect.stringMatching(/schedules.reconcile.every: every must be longer than zero/));
    expect(problems('version: 1\ntargets: {}\nschedules:\n  reconcile:\n    every: 10 minutes\n').join()).not.toMatch(/every/);
  });

  test('an IAM group name IAM would refuse in groups.map is caught at load, with the source group', () => {
    const text = 'version: 1\ntargets:\n  aws:\n    type: aws-iam\n    userName: mail\n    groups:\n      map:\n        Engineering: "eng team!"\n        Sales: idflow-sales\n';
    expect(problems(text)).toEqual([expect.stringMatching(/targets.aws.groups.map.Engineering: "eng team!" is not a legal IAM group name/)]);
  });
});
