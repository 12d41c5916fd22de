import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import type { Config } from './config';
import { AggregateMappingError, type CompiledTarget, compileTargets, type MappingPlugins } from './mapping';

/** The registered kinds a config is read with: the whole schema (each kind's own settings) and the mapping plug-ins. */
export interface ConfigPlugins extends MappingPlugins {
  schema: z.ZodType<Config>;
}

export interface ConfigProblem {
  path: string;
  line?: number;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`${file} is not a valid idflow config:\n${problems.map((p) => `  ${file}${p.line ? `:${p.line}` : ''} ${p.path || '(root)'}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: Config;
  targets: CompiledTarget[];
}

const ENV_REF = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Parses and validates config text. `${env:NAME}` (or `${env:NAME:-default}`) in a string is replaced
 * from `env`; mappings are checked against the plug-ins (runtime/plugins.ts) of the configured kinds. Secrets are not referenced this way but by the name of their variable (e.g. tokenEnv).
 */
export function parseConfig(text: string, file: string, env: Readonly<Record<string, string | undefined>>, plugins: ConfigPlugins): LoadedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const lineOf = (offset: number | undefined) => (offset === undefined ? undefined : lineCounter.linePos(offset).line);
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((e) => ({ path: '', line: lineOf(e.pos[0]), message: e.message.split('\n')[0] ?? e.message })));
  }
  const problems: ConfigProblem[] = [];
  const at = (path: (string | number)[]) => ({ path: path.join('.'), line: lineAt(doc, path, lineOf) });
  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (err) {
    // e.g. an alias bomb ("Excessive alias count"): still a config error, naming the file.
    throw new ConfigError(file, [{ path: '', message: (err as Error).message }]);
  }
  const cycle = aliasCycle(raw);
  if (cycle) throw new ConfigError(file, [{ path: cycle.join('.'), line: lineAt(doc, cycle, lineOf), message: 'a YAML alias refers to a node that contains it (a recursive alias); a config must be a tree' }]);
  const substituted = new Map<string, string>();
  const resolved = resolveEnv(raw, [], env, (path, message) => problems.push({ ...at(path), message }), substituted);
  if (problems.length > 0) throw new ConfigError(file, problems);
  // A value read from the environment may be a secret referenced by mistake: never echo it back.
  const redact = (message: string) => [...substituted].reduce((m, [value, ref]) => (value.length >= 4 ? m.split(value).join(ref) : m), message);

  const parsed = plugins.schema.safeParse(resolved);
  if (!parsed.success) {
    throw new ConfigError(
      file,
      parsed.error.issues.map((issue) => {
        const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
        if (issue.code === 'unrecognized_keys') {
          return { path: path.join('.'), line: lineAt(doc, [...path, issue.keys[0]!], lineOf), message: `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}` };
        }
        return { ...at(path), message: redact(issue.message) };
      }),
    );
  }
  try {
    return { config: parsed.data, targets: compileTargets(parsed.data, plugins) };
  } catch (err) {
    if (!(err instanceof AggregateMappingError)) throw err;
    throw new ConfigError(
      file,
      err.problems.map((p) => ({ ...at(p.path.split('.')), message: redact(p.message.slice(p.path.length + 2)) })),
    );
  }
}

function resolveEnv(value: unknown, path: (string | number)[], env: Readonly<Record<string, string | undefined>>, report: (path: (string | number)[], message: string) => void, substituted: Map<string, string>): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_m, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') {
        substituted.set(v, `\${env:${name}}`);
        return v;
      }
      if (fallback !== undefined) return fallback;
      report(path, `environment variable ${name} is not set`);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveEnv(v, [...path, i], env, report, substituted));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveEnv(v, [...path, k], env, report, substituted)]));
  }
  return value;
}

/** The line of the deepest node that exists along the path, so a missing key points at its parent. */
function lineAt(doc: Document, path: (string | number)[], lineOf: (offset: number | undefined) => number | undefined): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    if (isNode(node) && node.range) return lineOf(node.range[0]);
  }
  return undefined;
}

/** The path of the first value that contains itself (YAML `a: &x [*x]` builds such a value), or null. */
function aliasCycle(value: unknown, path: (string | number)[] = [], open = new Set<unknown>()): (string | number)[] | null {
  if (typeof value !== 'object' || value === null) return null;
  if (open.has(value)) return path;
  open.add(value);
  const entries: [string | number, unknown][] = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  for (const [key, child] of entries) {
    const found = aliasCycle(child, [...path, key], open);
    if (found) return found;
  }
  open.delete(value);
  return null;
}
