/**
 * The attribute-mapping expression language: config maps source (Entra ID) attributes to target
 * attributes with expressions such as `lower(localPart(userPrincipalName))`.
 *
 * Nothing from configuration is ever run as code: source text is parsed into a small AST
 * (literals, attribute references, calls of a fixed function library) and interpreted. Parsing is
 * bounded (source length, nesting depth); regular expressions must be string literals, are
 * screened for catastrophic backtracking and compiled once; evaluation is total (never throws on
 * data) and every produced string is length-capped. The language is described in docs/expressions.md.
 *
 * Pure: no I/O, no clock, no randomness. Safe to use in replayed workflow code.
 */
import {
  ENTRA_EQUIVALENTS,
  EXPRESSION_LIMITS,
  FUNCTION_DEFINITIONS,
  clip,
  compileSafeRegex,
  valueToInteger,
  type FunctionDefinition,
  type Value,
} from './expression-functions';

export { EXPRESSION_LIMITS, normalizeDiacritics } from './expression-functions';

export type { Value } from './expression-functions';

export interface LiteralExpression {
  readonly kind: 'literal';
  readonly value: Value;
  /** 0-based offset of the literal in the source. */
  readonly position: number;
}

export interface AttributeExpression {
  readonly kind: 'attribute';
  /** The attribute name, dots included (`manager.employeeId`). */
  readonly name: string;
  readonly position: number;
}

export interface CallExpression {
  readonly kind: 'call';
  readonly name: string;
  readonly args: readonly Expression[];
  /** 0-based offset of the function name. */
  readonly position: number;
}

export type Expression = LiteralExpression | AttributeExpression | CallExpression;

/** A syntax or semantic error in an expression. `position` is a 0-based offset into `source`. */
export class ExpressionError extends Error {
  readonly position: number;
  readonly source: string;
  /** Every problem found (one for syntax errors, all of them from compileExpression). */
  readonly problems: readonly string[];

  constructor(message: string, position: number, source: string, problems: readonly string[] = [message]) {
    super(message);
    this.name = 'ExpressionError';
    this.position = position;
    this.source = source;
    this.problems = problems;
  }
}

/** Public description of every function (docs/expressions.md has examples). */
export const EXPRESSION_FUNCTIONS: ReadonlyArray<{
  readonly name: string;
  readonly signature: string;
  readonly description: string;
  readonly minArgs: number;
  readonly maxArgs: number;
}> = Object.freeze(
  FUNCTION_DEFINITIONS.map(({ name, signature, description, minArgs, maxArgs }) =>
    Object.freeze({ name, signature, description, minArgs, maxArgs }),
  ),
);

const FUNCTIONS: ReadonlyMap<string, FunctionDefinition> = new Map(FUNCTION_DEFINITIONS.map((f) => [f.name, f]));
const FUNCTION_NAMES: readonly string[] = FUNCTION_DEFINITIONS.map((f) => f.name);
const ENTRA_NAMES: ReadonlyMap<string, string> = new Map(Object.entries(ENTRA_EQUIVALENTS));
const KEYWORDS: ReadonlyMap<string, Value> = new Map<string, Value>([
  ['true', true],
  ['false', false],
  ['null', null],
]);

const column = (position: number): number => position + 1;

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

type Token =
  | { readonly type: 'name'; readonly text: string; readonly position: number }
  | { readonly type: 'string'; readonly value: string; readonly position: number }
  | { readonly type: 'number'; readonly value: number; readonly text: string; readonly position: number }
  | { readonly type: '(' | ')' | ','; readonly position: number }
  | { readonly type: 'end'; readonly position: number };

function describeToken(token: Token): string {
  switch (token.type) {
    case 'name':
      return `name "${token.text}"`;
    case 'string':
      return `string ${JSON.stringify(token.value.length > 20 ? `${token.value.slice(0, 20)}…` : token.value)}`;
    case 'number':
      return `number ${token.text}`;
    case 'end':
      return 'the end of the expression';
    default:
      return `"${token.type}"`;
  }
}

function describeCharacter(ch: string): string {
  return /^[\x21-\x7e]$/.test(ch) ? JSON.stringify(ch) : `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

const CHARACTER_HINTS: Readonly<Record<string, string>> = {
  '[': '; attributes are written without brackets: department, not [department]',
  '+': '; join strings with concat(a, b) or append(a, b)',
  '&': '; join strings with concat(a, b) or append(a, b)',
  '=': '; compare with equals(a, b)',
  '!': '; negate with not(condition)',
};

const isNameStart = (ch: string | undefined): boolean => ch !== undefined && /[A-Za-z_]/.test(ch);
const isNamePart = (ch: string | undefined): boolean => ch !== undefined && /[A-Za-z0-9_]/.test(ch);
const isDigit = (ch: string | undefined): boolean => ch !== undefined && ch >= '0' && ch <= '9';

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const fail = (message: string, position: number): never => {
    throw new ExpressionError(message, position, source);
  };
  let i = 0;
  while (i < source.length) {
    const ch = source[i] as string;
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      i += 1;
    } else if (ch === '(' || ch === ')' || ch === ',') {
      tokens.push({ type: ch, position: i });
      i += 1;
    } else if (ch === '"' || ch === "'") {
      const start = i;
      let value = '';
      i += 1;
      for (;;) {
        const c = source[i];
        if (c === undefined) fail(`unterminated string starting at column ${column(start)}; close it with ${ch}`, start);
        if (c === ch) break;
        if (c !== '\\') {
          value += c;
          i += 1;
          continue;
        }
        const escape = source[i + 1];
        if (escape === undefined) fail(`unterminated string starting at column ${column(start)}; close it with ${ch}`, start);
        if (escape === '\\' || escape === '"' || escape === "'") {
          value += escape;
          i += 2;
        } else if (escape === 'n' || escape === 'r' || escape === 't') {
          value += escape === 'n' ? '\n' : escape === 'r' ? '\r' : '\t';
          i += 2;
        } else if (escape === 'u') {
          const braced = /^\{([0-9A-Fa-f]{1,6})\}/.exec(source.slice(i + 2, i + 10));
          const plain = /^[0-9A-Fa-f]{4}/.exec(source.slice(i + 2, i + 6));
          const code = braced ? Number.parseInt(braced[1] as string, 16) : plain ? Number.parseInt(plain[0], 16) : -1;
          if (code < 0 || code > 0x10ffff) {
            fail(`invalid unicode escape at column ${column(i)}; write \\u followed by 4 hex digits or \\u{hex}`, i);
          }
          value += String.fromCodePoint(code);
          i += 2 + (braced ? braced[0].length : 4);
        } else {
          fail(
            `unknown escape "\\${escape}" at column ${column(i)}; a backslash in a string must be written \\\\ (regular expressions too: "\\\\d+")`,
            i,
          );
        }
      }
      tokens.push({ type: 'string', value, position: start });
      i += 1;
    } else if (isDigit(ch) || (ch === '-' && isDigit(source[i + 1]))) {
      const start = i;
      i += 1;
      while (isDigit(source[i])) i += 1;
      if (source[i] === '.' && isDigit(source[i + 1])) {
        fail(`decimal number at column ${column(start)}; only whole numbers are supported`, start);
      }
      if (isNamePart(source[i])) {
        while (isNamePart(source[i])) i += 1;
        fail(`invalid number "${source.slice(start, i)}" at column ${column(start)}; names cannot start with a digit`, start);
      }
      const text = source.slice(start, i);
      const value = Number(text);
      if (!Number.isSafeInteger(value)) {
        fail(`number ${text} at column ${column(start)} is too large; the limit is ${Number.MAX_SAFE_INTEGER}`, start);
      }
      tokens.push({ type: 'number', value: value === 0 ? 0 : value, text, position: start });
    } else if (isNameStart(ch)) {
      const start = i;
      i += 1;
      while (isNamePart(source[i])) i += 1;
      while (source[i] === '.') {
        if (!isNameStart(source[i + 1])) {
          fail(`expected a name after "." at column ${column(i + 1)}`, i + 1);
        }
        i += 2;
        while (isNamePart(source[i])) i += 1;
      }
      tokens.push({ type: 'name', text: source.slice(start, i), position: start });
    } else {
      const char = String.fromCodePoint(source.codePointAt(i) ?? 0);
      fail(`unexpected character ${describeCharacter(char)} at column ${column(i)}${CHARACTER_HINTS[char] ?? ''}`, i);
    }
  }
  tokens.push({ type: 'end', position: source.length });
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

/**
 * Parses an expression. Grammar:
 *
 *   expression := string | integer | "true" | "false" | "null" | attribute | call
 *   attribute  := name ("." name)*          name := [A-Za-z_][A-Za-z0-9_]*
 *   call       := name "(" [expression ("," expression)*] ")"
 *
 * Strings take double or single quotes with the escapes \\ \" \' \n \r \t \uXXXX \u{X..}.
 * Throws ExpressionError (with a 0-based position and "column N" = position + 1 in the message).
 */
export function parseExpression(source: string): Expression {
  if (typeof source !== 'string') {
    throw new ExpressionError(`an expression must be a string, got ${typeof source}`, 0, String(source));
  }
  if (source.length > EXPRESSION_LIMITS.maxSourceLength) {
    throw new ExpressionError(
      `expression is ${source.length} characters long; the limit is ${EXPRESSION_LIMITS.maxSourceLength}`,
      EXPRESSION_LIMITS.maxSourceLength,
      source,
    );
  }
  const tokens = tokenize(source);
  let index = 0;
  const peek = (): Token => tokens[index] as Token;
  const next = (): Token => tokens[index++] as Token;
  const fail = (message: string, position: number): never => {
    throw new ExpressionError(message, position, source);
  };

  const parse = (depth: number): Expression => {
    const token = next();
    switch (token.type) {
      case 'string':
      case 'number':
        return { kind: 'literal', value: token.value, position: token.position };
      case 'name': {
        if (peek().type !== '(') {
          if (KEYWORDS.has(token.text)) {
            return { kind: 'literal', value: KEYWORDS.get(token.text) ?? null, position: token.position };
          }
          return { kind: 'attribute', name: token.text, position: token.position };
        }
        if (token.text.includes('.')) {
          fail(`function name "${token.text}" at column ${column(token.position)} cannot contain "."`, token.position);
        }
        if (depth > EXPRESSION_LIMITS.maxDepth) {
          fail(
            `function calls are nested more than ${EXPRESSION_LIMITS.maxDepth} deep at column ${column(token.position)}`,
            token.position,
          );
        }
        const open = next();
        const args: Expression[] = [];
        if (peek().type === ')') {
          next();
        } else {
          for (;;) {
            args.push(parse(depth + 1));
            const separator = next();
            if (separator.type === ',') continue;
            if (separator.type === ')') break;
            const unclosed =
              separator.type === 'end' ? ` (the "(" at column ${column(open.position)} is never closed)` : '';
            fail(
              `expected "," or ")" at column ${column(separator.position)}, found ${describeToken(separator)}${unclosed}`,
              separator.position,
            );
          }
        }
        return { kind: 'call', name: token.text, args, position: token.position };
      }
      case '(':
        return fail(
          `unexpected "(" at column ${column(token.position)}; parentheses only follow a function name`,
          token.position,
        );
      default:
        return fail(
          `expected an attribute, a literal or a function call at column ${column(token.position)}, found ${describeToken(token)}`,
          token.position,
        );
    }
  };

  const expr = parse(1);
  const rest = peek();
  if (rest.type !== 'end') {
    fail(
      `expected the end of the expression at column ${column(rest.position)}, found ${describeToken(rest)}; ` +
        'an expression is a single value: combine values with a function such as join or concat',
      rest.position,
    );
  }
  return expr;
}

// ---------------------------------------------------------------------------------------------
// Semantic checks
// ---------------------------------------------------------------------------------------------

/** Optimal-string-alignment distance (Levenshtein plus adjacent transpositions), case-insensitive. */
function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const rows: number[][] = [];
  for (let i = 0; i <= s.length; i += 1) {
    const row: number[] = [i];
    for (let j = 1; j <= t.length; j += 1) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const prev = rows[i - 1] as number[];
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) {
        d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      row.push(d);
    }
    rows.push(row);
  }
  return (rows[s.length] as number[])[t.length] as number;
}

/** The closest candidate: same name in another case first, then the smallest edit distance within reason. */
function closest(name: string, candidates: Iterable<string>): string | null {
  const lower = name.toLowerCase();
  // Names of one or two characters only get a suggestion for a difference in case.
  const limit = name.length < 3 ? 0 : Math.max(1, Math.floor(name.length / 3));
  let best: string | null = null;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    if (candidate.toLowerCase() === lower) return candidate;
    if (Math.abs(candidate.length - name.length) > limit && !(name.length >= 3 && candidate.toLowerCase().startsWith(lower))) {
      continue;
    }
    const distance = editDistance(name, candidate);
    const score = distance <= limit ? distance : name.length >= 3 && candidate.toLowerCase().startsWith(lower) ? limit + 0.5 : Infinity;
    if (score < bestScore || (score === bestScore && best !== null && candidate < best)) {
      best = candidate;
      bestScore = score;
    }
  }
  return bestScore === Number.POSITIVE_INFINITY ? null : best;
}

interface Problem {
  readonly message: string;
  readonly position: number;
}

function unknownFunction(node: CallExpression): string {
  const where = `unknown function "${node.name}" at column ${column(node.position)}`;
  const entra = ENTRA_NAMES.get(node.name.toLowerCase());
  const suggestion = entra ?? closest(node.name, FUNCTION_NAMES);
  if (suggestion === null) return `${where}; the functions are listed in docs/expressions.md`;
  const caseOnly = suggestion.toLowerCase() === node.name.toLowerCase() ? ' (function names are case-sensitive)' : '';
  return `${where}; did you mean "${suggestion}"?${caseOnly}`;
}

function unknownAttribute(node: AttributeExpression, known: ReadonlySet<string>): string {
  const where = `unknown attribute "${node.name}" at column ${column(node.position)}`;
  const lower = node.name.toLowerCase();
  if (KEYWORDS.has(lower)) return `${where}; did you mean the literal ${lower}?`;
  const suggestion = closest(node.name, known);
  if (suggestion !== null) {
    const caseOnly = suggestion.toLowerCase() === lower ? ' (attribute names are case-sensitive)' : '';
    return `${where}; did you mean "${suggestion}"?${caseOnly}`;
  }
  return `${where}; if you meant the text, put it in quotes: "${node.name}"`;
}

function arityProblem(def: FunctionDefinition, count: number): string | null {
  if (count >= def.minArgs && count <= def.maxArgs) return null;
  const plural = (n: number): string => `${n} argument${n === 1 ? '' : 's'}`;
  const expected =
    def.minArgs === def.maxArgs
      ? `exactly ${plural(def.minArgs)}`
      : def.maxArgs === Number.POSITIVE_INFINITY
        ? `at least ${plural(def.minArgs)}`
        : `${def.minArgs} to ${plural(def.maxArgs)}`;
  return `takes ${expected} but got ${count}: ${def.signature}`;
}

/** Regexes compiled once per call node (by the checker, or on first evaluation). null: unusable. */
const compiledRegexes = new WeakMap<CallExpression, RegExp | null>();

function regexOf(node: CallExpression, def: FunctionDefinition): { regex: RegExp | null; problem: string | null } {
  const index = def.regexArg as number;
  const arg = node.args[index];
  if (arg === undefined || arg.kind !== 'literal' || typeof arg.value !== 'string') {
    compiledRegexes.set(node, null);
    const at = arg === undefined ? node.position : arg.position;
    return {
      regex: null,
      problem: `the pattern of ${node.name}() at column ${column(at)} must be a string literal such as "[^a-z]"; patterns from data could be unsafe`,
    };
  }
  const compiled = compileSafeRegex(arg.value, def.regexFlags ?? 'u', ` at column ${column(arg.position)}`);
  const regex = compiled.ok ? compiled.regex : null;
  compiledRegexes.set(node, regex);
  return { regex, problem: compiled.ok ? null : compiled.problem };
}

function describeLiteral(value: Value): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function checkCall(node: CallExpression, problems: Problem[]): void {
  const def = FUNCTIONS.get(node.name);
  if (def === undefined) {
    problems.push({ message: unknownFunction(node), position: node.position });
    return;
  }
  const arity = arityProblem(def, node.args.length);
  if (arity !== null) {
    problems.push({ message: `${node.name}() at column ${column(node.position)} ${arity}`, position: node.position });
    return;
  }
  if (def.pairsFrom !== undefined && (node.args.length - def.pairsFrom) % 2 !== 0) {
    const last = node.args[node.args.length - 1] as Expression;
    problems.push({
      message: `${node.name}() at column ${column(node.position)} has a key without a result at column ${column(last.position)}: ${def.signature}`,
      position: last.position,
    });
  }
  for (const param of def.integerArgs ?? []) {
    const arg = node.args[param.index];
    if (arg === undefined || arg.kind !== 'literal') continue;
    const n = valueToInteger(arg.value);
    if (n === null || n < param.min) {
      problems.push({
        message: `the ${param.name} of ${node.name}() at column ${column(arg.position)} must be a whole number of at least ${param.min}, got ${describeLiteral(arg.value)}`,
        position: arg.position,
      });
    }
  }
  if (def.regexArg !== undefined) {
    const { problem } = regexOf(node, def);
    if (problem !== null) {
      const arg = node.args[def.regexArg];
      problems.push({ message: problem, position: arg ? arg.position : node.position });
    }
  }
}

function collectProblems(expr: Expression, knownAttributes: ReadonlySet<string>): Problem[] {
  const problems: Problem[] = [];
  const visit = (node: Expression): void => {
    if (node.kind === 'attribute') {
      if (!knownAttributes.has(node.name)) problems.push({ message: unknownAttribute(node, knownAttributes), position: node.position });
    } else if (node.kind === 'call') {
      checkCall(node, problems);
      node.args.forEach(visit);
    }
  };
  visit(expr);
  // A call's own problems come before its arguments'; report strictly in source order (stable sort).
  return problems.sort((a, b) => a.position - b.position);
}

/**
 * Semantic problems of a parsed expression, in source order: unknown functions and attributes
 * (with did-you-mean), wrong argument counts, literal arguments that must be whole numbers,
 * regular expressions that are not string literals, are invalid, too long or may backtrack
 * catastrophically. Empty when the expression is fine.
 */
export function checkExpression(expr: Expression, knownAttributes: ReadonlySet<string>): string[] {
  return collectProblems(expr, knownAttributes).map((p) => p.message);
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

function asValue(v: unknown): Value {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : null;
}

function evaluateNode(node: Expression, attributes: Readonly<Record<string, unknown>>, depth: number): Value {
  if (depth > EXPRESSION_LIMITS.maxDepth + 1) return null;
  switch (node.kind) {
    case 'literal':
      return asValue(node.value);
    case 'attribute':
      return Object.prototype.hasOwnProperty.call(attributes, node.name) ? asValue(attributes[node.name]) : null;
    case 'call': {
      const def = FUNCTIONS.get(node.name);
      if (def === undefined || arityProblem(def, node.args.length) !== null) return null;
      let regex: RegExp | null = null;
      if (def.regexArg !== undefined) {
        regex = compiledRegexes.has(node) ? (compiledRegexes.get(node) ?? null) : regexOf(node, def).regex;
        if (regex === null) return null;
      }
      const args = node.args.map((arg) => evaluateNode(arg, attributes, depth + 1));
      const result = def.apply(args, regex);
      return typeof result === 'string' ? clip(result, EXPRESSION_LIMITS.maxStringLength) : result;
    }
    default:
      return null;
  }
}

/**
 * Evaluates an expression against one identity's attributes. Total: it never throws because of
 * data. A missing attribute is null; so is the result of anything the checker would have rejected
 * (unknown function, wrong argument count, unusable regular expression).
 */
export function evaluateExpression(expr: Expression, attributes: Readonly<Record<string, Value | undefined>>): Value {
  const attrs: Readonly<Record<string, unknown>> = typeof attributes === 'object' && attributes !== null ? attributes : {};
  return evaluateNode(expr, attrs, 1);
}

/** The attribute names an expression reads, sorted and unique (what to $select from Graph). */
export function referencedAttributes(expr: Expression): string[] {
  const names = new Set<string>();
  const visit = (node: Expression): void => {
    if (node.kind === 'attribute') names.add(node.name);
    else if (node.kind === 'call') node.args.forEach(visit);
  };
  visit(expr);
  return [...names].sort();
}

export interface CompiledExpression {
  readonly expr: Expression;
  /** referencedAttributes(expr). */
  readonly attributes: string[];
  evaluate(attributes: Readonly<Record<string, Value | undefined>>): Value;
}

/**
 * Parses and checks an expression. Throws ExpressionError on a syntax error, or listing every
 * semantic problem (its `problems` holds them one by one; `position` is the first one's).
 */
export function compileExpression(source: string, knownAttributes: ReadonlySet<string>): CompiledExpression {
  const expr = parseExpression(source);
  const problems = collectProblems(expr, knownAttributes);
  const first = problems[0];
  if (first !== undefined) {
    const messages = problems.map((p) => p.message);
    const message =
      messages.length === 1 ? first.message : `${messages.length} problems:\n${messages.map((m) => `- ${m}`).join('\n')}`;
    throw new ExpressionError(message, first.position, source, messages);
  }
  const attributes = referencedAttributes(expr);
  return Object.freeze({
    expr,
    attributes,
    evaluate: (attrs: Readonly<Record<string, Value | undefined>>): Value => evaluateExpression(expr, attrs),
  });
}
