import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  EXPRESSION_FUNCTIONS,
  EXPRESSION_LIMITS,
  ExpressionError,
  checkExpression,
  compileExpression,
  evaluateExpression,
  normalizeDiacritics,
  parseExpression,
  referencedAttributes,
  type Expression,
  type Value,
} from '../../domain/expression';
import { regexHazard } from '../../domain/expression-functions';

type Attrs = Record<string, Value | undefined>;

const USER: Attrs = {
  userPrincipalName: 'Zoe.OBrien@contoso.com',
  mail: null,
  displayName: "Zoë O'Brien-Łukasiewicz",
  givenName: 'Zoë',
  surname: "O'Brien-Łukasiewicz",
  mailNickname: "Zoë.O'Brien",
  department: 'Engineering',
  jobTitle: '  Senior Engineer  ',
  employeeId: '4711',
  employeeType: 'Contractor',
  accountEnabled: true,
  officeLocation: '',
  companyName: 'Ångström Labs',
  'manager.employeeId': '1001',
};
const KNOWN = new Set(Object.keys(USER));

/** Evaluates source against attrs (default: USER), after checking it is a valid expression. */
function run(source: string, attrs: Attrs = USER): Value {
  const compiled = compileExpression(source, new Set([...KNOWN, ...Object.keys(attrs)]));
  return compiled.evaluate(attrs);
}

/** Evaluates source without the checker (what a hand-built or unchecked AST would do). */
function runUnchecked(source: string, attrs: Attrs = USER): Value {
  return evaluateExpression(parseExpression(source), attrs);
}

function parseError(source: string): ExpressionError {
  try {
    parseExpression(source);
  } catch (err) {
    if (err instanceof ExpressionError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(source)} not to parse`);
}

function compileError(source: string, known: ReadonlySet<string> = KNOWN): ExpressionError {
  try {
    compileExpression(source, known);
  } catch (err) {
    if (err instanceof ExpressionError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(source)} not to compile`);
}

/** The AST without positions, for structural comparison. */
function shape(expr: Expression): unknown {
  switch (expr.kind) {
    case 'literal':
      return { literal: expr.value };
    case 'attribute':
      return { attribute: expr.name };
    case 'call':
      return { call: expr.name, args: expr.args.map(shape) };
  }
}

const FUNCTION_NAMES = [
  'coalesce', 'iif', 'switch', 'isEmpty', 'isPresent', 'equals', 'contains', 'startsWith', 'endsWith',
  'matches', 'not', 'and', 'or', 'lower', 'upper', 'properCase', 'trim', 'stripSpaces',
  'normalizeDiacritics', 'localPart', 'domainPart', 'left', 'right', 'mid', 'truncate', 'word',
  'padLeft', 'append', 'concat', 'join', 'replace', 'regexReplace', 'toString', 'toBoolean',
];

// ---------------------------------------------------------------------------------------------

describe('the function catalogue', () => {
  it('lists exactly the documented functions, each with a signature and description', () => {
    expect(EXPRESSION_FUNCTIONS.map((f) => f.name)).toEqual(FUNCTION_NAMES);
    for (const f of EXPRESSION_FUNCTIONS) {
      expect(f.signature.startsWith(`${f.name}(`)).toBe(true);
      expect(f.description.length).toBeGreaterThan(10);
      expect(f.minArgs).toBeLessThanOrEqual(f.maxArgs);
    }
  });

  it('gives the arities of the variadic and optional-argument functions', () => {
    const arity = (name: string): [number, number] => {
      const f = EXPRESSION_FUNCTIONS.find((x) => x.name === name);
      return [f?.minArgs ?? -1, f?.maxArgs ?? -1];
    };
    expect(arity('coalesce')).toEqual([1, Infinity]);
    expect(arity('switch')).toEqual([4, Infinity]);
    expect(arity('join')).toEqual([2, Infinity]);
    expect(arity('word')).toEqual([2, 3]);
    expect(arity('padLeft')).toEqual([2, 3]);
    expect(arity('mid')).toEqual([3, 3]);
  });
});

describe('docs/expressions.md', () => {
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'expressions.md'), 'utf8');
  const section = (title: string): string => {
    const part = doc.split('\n## ').find((s) => s.startsWith(`${title}\n`));
    if (part === undefined) throw new Error(`no "## ${title}" section`);
    return part;
  };
  const rows = (text: string): Array<[string, string]> =>
    text
      .split('\n')
      .map((line) => /^\| `(.+)` \| `(.*)` \|$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1] as string, m[2] as string]);

  const functions = section('Functions');
  const sample = JSON.parse(/```json\n([\s\S]*?)\n```/.exec(functions)?.[1] ?? '{}') as Attrs;
  const examples = rows(functions);

  it('documents the sample user the tests use', () => {
    expect(sample).toEqual(USER);
  });

  it('has a section and at least one example for every function', () => {
    for (const name of FUNCTION_NAMES) {
      expect(functions).toContain(`#### ${name}(`);
      expect(examples.some(([source]) => source.includes(`${name}(`))).toBe(true);
    }
    expect(examples.length).toBeGreaterThanOrEqual(80);
  });

  it('gives the right result for every example', () => {
    for (const [source, result] of examples) {
      expect({ source, problems: checkExpression(parseExpression(source), KNOWN) }).toEqual({ source, problems: [] });
      expect({ source, value: run(source) }).toEqual({ source, value: JSON.parse(result) });
    }
  });

  it('shows the real error messages', () => {
    const errors = rows(section('Errors'));
    expect(errors).toHaveLength(7);
    for (const [source, message] of errors) {
      let actual: string;
      try {
        compileExpression(source, KNOWN);
        actual = '(compiled)';
      } catch (err) {
        actual = err instanceof ExpressionError ? err.message : String(err);
      }
      expect({ source, message: actual }).toEqual({ source, message });
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('parseExpression', () => {
  it('parses attributes, dotted attributes and literals with positions', () => {
    expect(parseExpression('department')).toEqual({ kind: 'attribute', name: 'department', position: 0 });
    expect(parseExpression('  manager.employeeId ')).toEqual({ kind: 'attribute', name: 'manager.employeeId', position: 2 });
    expect(parseExpression('"Engineering"')).toEqual({ kind: 'literal', value: 'Engineering', position: 0 });
    expect(parseExpression("'single'")).toEqual({ kind: 'literal', value: 'single', position: 0 });
    expect(parseExpression('64')).toEqual({ kind: 'literal', value: 64, position: 0 });
    expect(parseExpression('-7')).toEqual({ kind: 'literal', value: -7, position: 0 });
    expect(parseExpression('-0')).toEqual({ kind: 'literal', value: 0, position: 0 });
    expect(parseExpression('true')).toEqual({ kind: 'literal', value: true, position: 0 });
    expect(parseExpression('false')).toEqual({ kind: 'literal', value: false, position: 0 });
    expect(parseExpression('null')).toEqual({ kind: 'literal', value: null, position: 0 });
    expect(parseExpression('True')).toEqual({ kind: 'attribute', name: 'True', position: 0 });
    expect(parseExpression('_x9')).toEqual({ kind: 'attribute', name: '_x9', position: 0 });
  });

  it('parses nested calls with the position of each name', () => {
    expect(parseExpression('coalesce(mail, lower( userPrincipalName ), "x")')).toEqual({
      kind: 'call',
      name: 'coalesce',
      position: 0,
      args: [
        { kind: 'attribute', name: 'mail', position: 9 },
        { kind: 'call', name: 'lower', position: 15, args: [{ kind: 'attribute', name: 'userPrincipalName', position: 22 }] },
        { kind: 'literal', value: 'x', position: 43 },
      ],
    });
    expect(parseExpression('f()')).toEqual({ kind: 'call', name: 'f', position: 0, args: [] });
    expect(parseExpression('f\n(\n\ta\r\n,\tb )')).toEqual({
      kind: 'call',
      name: 'f',
      position: 0,
      args: [
        { kind: 'attribute', name: 'a', position: 5 },
        { kind: 'attribute', name: 'b', position: 10 },
      ],
    });
  });

  it('decodes string escapes', () => {
    const value = (source: string): Value => (parseExpression(source) as { value: Value }).value;
    expect(value('"a\\"b"')).toBe('a"b');
    expect(value("'O\\'Brien'")).toBe("O'Brien");
    expect(value('"O\'Brien"')).toBe("O'Brien");
    expect(value("'say \"hi\"'")).toBe('say "hi"');
    expect(value('"back\\\\slash"')).toBe('back\\slash');
    expect(value('"\\n\\r\\t"')).toBe('\n\r\t');
    expect(value('"\\u00e9\\u00C9"')).toBe('éÉ');
    expect(value('"\\u{1F600}"')).toBe('😀');
    expect(value('"Zoë Łukasiewicz 😀"')).toBe('Zoë Łukasiewicz 😀');
    expect(value('""')).toBe('');
  });

  const errors: Array<[string, number, string]> = [
    ['', 0, 'expected an attribute, a literal or a function call at column 1, found the end of the expression'],
    ['   ', 3, 'expected an attribute, a literal or a function call at column 4, found the end of the expression'],
    ['lower(', 6, 'expected an attribute, a literal or a function call at column 7, found the end of the expression'],
    ['lower(x', 7, 'expected "," or ")" at column 8, found the end of the expression (the "(" at column 6 is never closed)'],
    ['lower(x y)', 8, 'expected "," or ")" at column 9, found name "y"'],
    ['lower(x,)', 8, 'expected an attribute, a literal or a function call at column 9, found ")"'],
    ['f(,)', 2, 'expected an attribute, a literal or a function call at column 3, found ","'],
    ['lower(x))', 8, 'expected the end of the expression at column 9, found ")"; an expression is a single value: combine values with a function such as join or concat'],
    ['givenName surname', 10, 'expected the end of the expression at column 11, found name "surname"; an expression is a single value: combine values with a function such as join or concat'],
    ['"abc', 0, 'unterminated string starting at column 1; close it with "'],
    ["lower('abc)", 6, "unterminated string starting at column 7; close it with '"],
    ['"abc\\', 0, 'unterminated string starting at column 1; close it with "'],
    ['"\\d+"', 1, 'unknown escape "\\d" at column 2; a backslash in a string must be written \\\\ (regular expressions too: "\\\\d+")'],
    ['"\\u12"', 1, 'invalid unicode escape at column 2; write \\u followed by 4 hex digits or \\u{hex}'],
    ['"\\u{110000}"', 1, 'invalid unicode escape at column 2; write \\u followed by 4 hex digits or \\u{hex}'],
    ['[department]', 0, 'unexpected character "[" at column 1; attributes are written without brackets: department, not [department]'],
    ['givenName + surname', 10, 'unexpected character "+" at column 11; join strings with concat(a, b) or append(a, b)'],
    ['a = b', 2, 'unexpected character "=" at column 3; compare with equals(a, b)'],
    ['lower(#)', 6, 'unexpected character "#" at column 7'],
    ['lower(\u00a0x)', 6, 'unexpected character U+00A0 at column 7'],
    ['😀', 0, 'unexpected character U+1F600 at column 1'],
    ['manager.', 8, 'expected a name after "." at column 9'],
    ['manager..id', 8, 'expected a name after "." at column 9'],
    ['a.1b', 2, 'expected a name after "." at column 3'],
    ['truncate(x, 1.5)', 12, 'decimal number at column 13; only whole numbers are supported'],
    ['12ab', 0, 'invalid number "12ab" at column 1; names cannot start with a digit'],
    ['99999999999999999', 0, 'number 99999999999999999 at column 1 is too large; the limit is 9007199254740991'],
    ['- 1', 0, 'unexpected character "-" at column 1'],
    ['manager.name(x)', 0, 'function name "manager.name" at column 1 cannot contain "."'],
    ['(x)', 0, 'unexpected "(" at column 1; parentheses only follow a function name'],
  ];

  it.each(errors)('rejects %j at position %i', (source, position, message) => {
    const err = parseError(source);
    expect(err).toBeInstanceOf(ExpressionError);
    expect(err.name).toBe('ExpressionError');
    expect(err.message).toBe(message);
    expect(err.position).toBe(position);
    expect(err.source).toBe(source);
    expect(err.problems).toEqual([message]);
  });

  it('accepts 10,000 characters and rejects 10,001', () => {
    const max = EXPRESSION_LIMITS.maxSourceLength;
    expect(max).toBe(10_000);
    const ok = `"${'a'.repeat(max - 2)}"`;
    expect((parseExpression(ok) as { value: string }).value).toHaveLength(max - 2);
    const err = parseError(`${ok} `);
    expect(err.message).toBe('expression is 10001 characters long; the limit is 10000');
    expect(err.position).toBe(10_000);
  });

  it('accepts 32 nested calls and rejects 33', () => {
    const nest = (n: number): string => `${'lower('.repeat(n)}givenName${')'.repeat(n)}`;
    expect(run(nest(32))).toBe('zoë');
    const err = parseError(nest(33));
    expect(err.message).toBe('function calls are nested more than 32 deep at column 193');
    expect(err.position).toBe(192);
  });

  it('does not overflow the stack on deeply nested hostile input', () => {
    const err = parseError('f('.repeat(4000));
    expect(err.position).toBe(64);
  });

  it('rejects a non-string source', () => {
    expect(() => parseExpression(42 as unknown as string)).toThrow('an expression must be a string, got number');
  });
});

// ---------------------------------------------------------------------------------------------

describe('checkExpression', () => {
  const check = (source: string, known: ReadonlySet<string> = KNOWN): string[] => checkExpression(parseExpression(source), known);

  it('accepts a valid expression', () => {
    expect(check('regexReplace(lower(normalizeDiacritics(mailNickname)), "[^a-z0-9.]", "-")')).toEqual([]);
    expect(check('coalesce(manager.employeeId, "none")')).toEqual([]);
  });

  it('reports unknown functions with a suggestion', () => {
    expect(check('lowr(mail)')).toEqual(['unknown function "lowr" at column 1; did you mean "lower"?']);
    expect(check('Lower(mail)')).toEqual(['unknown function "Lower" at column 1; did you mean "lower"? (function names are case-sensitive)']);
    expect(check('IIF(true, 1, 2)')).toEqual(['unknown function "IIF" at column 1; did you mean "iif"? (function names are case-sensitive)']);
    expect(check('iff(true, 1, 2)')).toEqual(['unknown function "iff" at column 1; did you mean "iif"?']);
    expect(check('trunc(mail, 3)')).toEqual(['unknown function "trunc" at column 1; did you mean "truncate"?']);
    expect(check('coalesce(mail, regexReplce(mail, "a", "b"))')).toEqual([
      'unknown function "regexReplce" at column 16; did you mean "regexReplace"?',
    ]);
  });

  it('maps Entra function names to their idflow equivalents', () => {
    expect(check('ToLower(mail)')).toEqual(['unknown function "ToLower" at column 1; did you mean "lower"?']);
    expect(check('ToUpper(mail)')).toEqual(['unknown function "ToUpper" at column 1; did you mean "upper"?']);
    expect(check('IsNullOrEmpty(mail)')).toEqual(['unknown function "IsNullOrEmpty" at column 1; did you mean "isEmpty"?']);
    expect(check('PCase(mail)')).toEqual(['unknown function "PCase" at column 1; did you mean "properCase"?']);
    expect(check('CStr(mail)')).toEqual(['unknown function "CStr" at column 1; did you mean "toString"?']);
    expect(check('NormalizeDiacritics(mail)')).toEqual([
      'unknown function "NormalizeDiacritics" at column 1; did you mean "normalizeDiacritics"? (function names are case-sensitive)',
    ]);
  });

  it('reports an unknown function without a suggestion when nothing is close', () => {
    expect(check('frobnicate(mail)')).toEqual(['unknown function "frobnicate" at column 1; the functions are listed in docs/expressions.md']);
    expect(check('constructor(mail)')).toEqual(['unknown function "constructor" at column 1; the functions are listed in docs/expressions.md']);
    expect(check('toString(mail)')).toEqual([]);
  });

  it('reports unknown attributes with a suggestion', () => {
    expect(check('lower(deparment)')).toEqual(['unknown attribute "deparment" at column 7; did you mean "department"?']);
    expect(check('Department')).toEqual(['unknown attribute "Department" at column 1; did you mean "department"? (attribute names are case-sensitive)']);
    expect(check('manager.employeeID')).toEqual([
      'unknown attribute "manager.employeeID" at column 1; did you mean "manager.employeeId"? (attribute names are case-sensitive)',
    ]);
    expect(check('iif(True, 1, 2)')).toEqual(['unknown attribute "True" at column 5; did you mean the literal true?']);
    expect(check('switch(department, other, "Engineering", eng)')).toEqual([
      'unknown attribute "other" at column 20; if you meant the text, put it in quotes: "other"',
      'unknown attribute "eng" at column 42; if you meant the text, put it in quotes: "eng"',
    ]);
    expect(check('x')).toEqual(['unknown attribute "x" at column 1; if you meant the text, put it in quotes: "x"']);
    expect(check('mail', new Set())).toEqual(['unknown attribute "mail" at column 1; if you meant the text, put it in quotes: "mail"']);
  });

  it('reports wrong argument counts', () => {
    expect(check('lower(mail, mail)')).toEqual(['lower() at column 1 takes exactly 1 argument but got 2: lower(text)']);
    expect(check('lower()')).toEqual(['lower() at column 1 takes exactly 1 argument but got 0: lower(text)']);
    expect(check('iif(true, 1)')).toEqual(['iif() at column 1 takes exactly 3 arguments but got 2: iif(condition, whenTrue, whenFalse)']);
    expect(check('coalesce()')).toEqual(['coalesce() at column 1 takes at least 1 argument but got 0: coalesce(value1, value2, ...)']);
    expect(check('word(mail)')).toEqual(['word() at column 1 takes 2 to 3 arguments but got 1: word(text, number[, delimiters])']);
    expect(check('switch(department, "d", "k")')).toEqual([
      'switch() at column 1 takes at least 4 arguments but got 3: switch(value, default, key1, result1, key2, result2, ...)',
    ]);
    expect(check('switch(department, "d", "k1", "v1", "k2")')).toEqual([
      'switch() at column 1 has a key without a result at column 37: switch(value, default, key1, result1, key2, result2, ...)',
    ]);
  });

  it('reports literal counts and positions that are not whole numbers', () => {
    expect(check('truncate(mail, "abc")')).toEqual(['the maxLength of truncate() at column 16 must be a whole number of at least 0, got "abc"']);
    expect(check('left(mail, -1)')).toEqual(['the count of left() at column 12 must be a whole number of at least 0, got -1']);
    expect(check('mid(mail, 0, 2)')).toEqual(['the start of mid() at column 11 must be a whole number of at least 1, got 0']);
    expect(check('mid(mail, 1, null)')).toEqual(['the length of mid() at column 14 must be a whole number of at least 0, got null']);
    expect(check('word(mail, 0)')).toEqual(['the number of word() at column 12 must be a whole number of at least 1, got 0']);
    expect(check('truncate(mail, "5")')).toEqual([]);
    expect(check('truncate(mail, employeeId)')).toEqual([]);
  });

  it('requires regular expressions to be string literals', () => {
    expect(check('regexReplace(mail, department, "")')).toEqual([
      'the pattern of regexReplace() at column 20 must be a string literal such as "[^a-z]"; patterns from data could be unsafe',
    ]);
    expect(check('matches(mail, lower("a"))')).toEqual([
      'the pattern of matches() at column 15 must be a string literal such as "[^a-z]"; patterns from data could be unsafe',
    ]);
    expect(check('matches(mail, 5)')).toEqual([
      'the pattern of matches() at column 15 must be a string literal such as "[^a-z]"; patterns from data could be unsafe',
    ]);
  });

  it('rejects invalid regular expressions', () => {
    expect(check('regexReplace(mail, "[a-", "")')).toEqual(['invalid regular expression "[a-" at column 20: Unterminated character class']);
    expect(check('matches(mail, "a{2,1}")')).toEqual(['invalid regular expression "a{2,1}" at column 15: numbers out of order in {} quantifier']);
    // The u flag is on, so an unnecessary escape is an error rather than silently meaning something else.
    expect(check('matches(mail, "\\\\@")')).toEqual(['invalid regular expression "\\\\@" at column 15: Invalid escape']);
  });

  it('rejects regular expressions that may backtrack catastrophically', () => {
    const nested = 'a repeated group contains another quantifier, as in (a+)+';
    const alternation = 'a repeated group contains alternatives, as in (a|ab)*; use a character class such as [ab]* instead';
    expect(check('matches(mail, "(a+)+$")')).toEqual([`regular expression "(a+)+$" at column 15 may backtrack catastrophically: ${nested}`]);
    expect(check('regexReplace(mail, "^(\\\\w+\\\\s?)*$", "")')).toEqual([
      `regular expression "^(\\\\w+\\\\s?)*$" at column 20 may backtrack catastrophically: ${nested}`,
    ]);
    expect(check('matches(mail, "(a|ab)*c")')).toEqual([`regular expression "(a|ab)*c" at column 15 may backtrack catastrophically: ${alternation}`]);
    expect(check('regexReplace(mail, "\\\\s*\\\\s*x", "")')).toEqual([
      'regular expression "\\\\s*\\\\s*x" at column 20 may backtrack catastrophically: two unbounded repetitions can match the same characters, as in \\s*\\s* or .*@.*; make them exclusive, e.g. [^@]* instead of .*',
    ]);
    expect(check('matches(mail, "(\\\\w)\\\\1")')).toEqual([
      'regular expression "(\\\\w)\\\\1" at column 15 may backtrack catastrophically: it uses a backreference',
    ]);
  });

  it('rejects regular expressions longer than 256 characters', () => {
    expect(check(`matches(mail, "${'a'.repeat(256)}")`)).toEqual([]);
    expect(check(`matches(mail, "${'a'.repeat(257)}")`)).toEqual([
      `regular expression "${'a'.repeat(60)}…" at column 15 is 257 characters long; the limit is 256`,
    ]);
  });

  it('lists every problem in source order', () => {
    expect(check('join(lowr(x), regexReplace(mial, department, ""), truncate(mail))')).toEqual([
      'unknown function "lowr" at column 6; did you mean "lower"?',
      'unknown attribute "x" at column 11; if you meant the text, put it in quotes: "x"',
      'unknown attribute "mial" at column 28; did you mean "mail"?',
      'the pattern of regexReplace() at column 34 must be a string literal such as "[^a-z]"; patterns from data could be unsafe',
      'truncate() at column 51 takes exactly 2 arguments but got 1: truncate(text, maxLength)',
    ]);
  });
});

describe('regexHazard', () => {
  const ACCEPTED = [
    '[^a-z0-9.]',
    '\\s+',
    '^\\s+|\\s+$',
    '\\s*,\\s*',
    '(\\w+)@(\\w+)\\.(\\w+)',
    '(?:Mr|Mrs|Dr)\\.? ',
    '(\\d{3})+',
    '(?<first>[^.]+)\\.(?<last>.+)',
    '^([^@]*)@(.*)$',
    '^([^.]+)\\.([^@]+)@.*$',
    '^(.*?)\\s*$',
    '^\\s*\\s*x',
    '\\w+\\s\\w+',
    '\\s*\\S+\\s*',
    '[(+*]+',
    '\\(a+\\)+',
    'a{2,}b*',
    '\\p{L}+',
    '[^a-zA-Z0-9]+',
    '.{0,16}.{0,16}x',
  ];

  it.each(ACCEPTED)('accepts %s', (pattern) => {
    expect(regexHazard(pattern)).toBeNull();
  });

  it('keeps every accepted pattern fast on hostile 4096-character input', () => {
    const inputs = [' ', 'a', '@', 'a ', 'a@', '.', '(a)', '0'].map((c) => c.repeat(Math.ceil(4096 / c.length)));
    for (const pattern of ACCEPTED) {
      const compiled = compileExpression(`regexReplace(x, "${pattern.replace(/\\/g, '\\\\')}", "-")`, new Set(['x']));
      const started = Date.now();
      for (const x of inputs) compiled.evaluate({ x });
      expect({ pattern, slow: Date.now() - started > 1000 }).toEqual({ pattern, slow: false });
    }
  });

  const NESTED = 'a repeated group contains another quantifier';
  const ALTERNATION = 'a repeated group contains alternatives';
  const BACKREFERENCE = 'it uses a backreference';
  const OVERLAP = 'two unbounded repetitions can match the same characters';
  it.each([
    ['(a+)+', NESTED],
    ['(a*)*', NESTED],
    ['(a?){2,}', NESTED],
    ['((ab)+c)+', NESTED],
    ['(?:x+y)*', NESTED],
    ['(a{1,3}){2,5}', NESTED],
    ['^(\\w+\\s?)*$', NESTED],
    ['(a|b)+', ALTERNATION],
    ['((a|b)c)*', ALTERNATION],
    ['(a)\\1', BACKREFERENCE],
    ['(?<x>a)\\k<x>', BACKREFERENCE],
    ['\\s*\\s*x', OVERLAP],
    ['a*a*a*b', OVERLAP],
    ['.*@.*', OVERLAP],
    ['\\S+@\\S+\\.\\S+', OVERLAP],
    ['\\s* \\s*x', OVERLAP],
    ['(\\s*)(\\s*)x', OVERLAP],
    ['(?:a|\\s*)\\s*x', OVERLAP],
    ['x(?=\\s*\\s*)', OVERLAP],
    ['.{0,17}.{0,17}x', OVERLAP],
    ['^\\s*\\s*\\s*x', OVERLAP],
    ['^a|\\s*\\s*x', OVERLAP],
  ])('rejects %s', (pattern, reason) => {
    expect(regexHazard(pattern)).toContain(reason);
  });
});

describe('compileExpression', () => {
  it('returns the AST, the attributes and an evaluator', () => {
    const compiled = compileExpression('join(" ", givenName, surname, givenName)', KNOWN);
    expect(compiled.attributes).toEqual(['givenName', 'surname']);
    expect(shape(compiled.expr)).toEqual({
      call: 'join',
      args: [{ literal: ' ' }, { attribute: 'givenName' }, { attribute: 'surname' }, { attribute: 'givenName' }],
    });
    expect(compiled.evaluate(USER)).toBe("Zoë O'Brien-Łukasiewicz Zoë");
    expect(compiled.evaluate({ givenName: 'José', surname: 'Álvarez' })).toBe('José Álvarez José');
  });

  it('throws one error listing every problem, positioned at the first', () => {
    const err = compileError('concat(lowr(givenName), deparment)');
    expect(err.message).toBe(
      '2 problems:\n- unknown function "lowr" at column 8; did you mean "lower"?\n- unknown attribute "deparment" at column 25; did you mean "department"?',
    );
    expect(err.position).toBe(7);
    expect(err.source).toBe('concat(lowr(givenName), deparment)');
    expect(err.problems).toEqual([
      'unknown function "lowr" at column 8; did you mean "lower"?',
      'unknown attribute "deparment" at column 25; did you mean "department"?',
    ]);
  });

  it('throws a single problem as is', () => {
    const err = compileError('lowr(givenName)');
    expect(err.message).toBe('unknown function "lowr" at column 1; did you mean "lower"?');
    expect(err.position).toBe(0);
  });

  it('throws syntax errors from the parser', () => {
    const err = compileError('lower(givenName');
    expect(err.message).toBe('expected "," or ")" at column 16, found the end of the expression (the "(" at column 6 is never closed)');
    expect(err.position).toBe(15);
  });
});

describe('referencedAttributes', () => {
  it('returns sorted unique attribute names, dotted ones included', () => {
    expect(referencedAttributes(parseExpression('coalesce(mail, lower(userPrincipalName), mail, manager.employeeId, "mail", department)'))).toEqual([
      'department',
      'mail',
      'manager.employeeId',
      'userPrincipalName',
    ]);
    expect(referencedAttributes(parseExpression('"constant"'))).toEqual([]);
    expect(referencedAttributes(parseExpression('unknownFn(b, a, B)'))).toEqual(['B', 'a', 'b']);
  });
});

// ---------------------------------------------------------------------------------------------

describe('functions', () => {
  it('coalesce picks the first non-empty value', () => {
    expect(run('coalesce(mail, officeLocation, "", null, employeeId, "x")')).toBe('4711');
    expect(run('coalesce(mail)')).toBeNull();
    expect(run('coalesce(" ", "x")')).toBe(' ');
    expect(run('coalesce(false, "x")')).toBe(false);
    expect(run('coalesce(0, 1)')).toBe(0);
  });

  it('iif chooses by truth', () => {
    expect(run('iif(true, "t", "f")')).toBe('t');
    expect(run('iif(false, "t", "f")')).toBe('f');
    expect(run('iif(null, "t", "f")')).toBe('f');
    expect(run('iif("TRUE", "t", "f")')).toBe('t');
    expect(run('iif(" 1 ", "t", "f")')).toBe('t');
    expect(run('iif(2, "t", "f")')).toBe('t');
    expect(run('iif(0, "t", "f")')).toBe('f');
    expect(run('iif("yes", "t", "f")')).toBe('f');
    expect(run('iif(true, mail, "f")')).toBeNull();
  });

  it('switch matches keys exactly and falls back to the default', () => {
    const expr = 'switch(department, "other", "Engineering", "eng", "Finance", "fin")';
    expect(run(expr, { department: 'Finance' })).toBe('fin');
    expect(run(expr, { department: 'Engineering' })).toBe('eng');
    expect(run(expr, { department: 'engineering' })).toBe('other');
    expect(run(expr, {})).toBe('other');
    expect(run('switch(employeeId, "?", 4711, "found")')).toBe('found');
    expect(run('switch("a", null, "a", 1, "a", 2)')).toBe(1);
    expect(run('switch("b", null, "a", 1)')).toBeNull();
  });

  it('isEmpty and isPresent treat only null and "" as empty', () => {
    expect(run('isEmpty(mail)')).toBe(true);
    expect(run('isEmpty(nothing)', { nothing: undefined })).toBe(true);
    expect(run('isEmpty("")')).toBe(true);
    expect(run('isEmpty(" ")')).toBe(false);
    expect(run('isEmpty(0)')).toBe(false);
    expect(run('isEmpty(false)')).toBe(false);
    expect(run('isPresent(mail)')).toBe(false);
    expect(run('isPresent("x")')).toBe(true);
    expect(run('isEmpty(trim(" "))')).toBe(true);
  });

  it('equals compares string forms; null only equals null', () => {
    expect(run('equals("a", "a")')).toBe(true);
    expect(run('equals("a", "A")')).toBe(false);
    expect(run('equals(1, "1")')).toBe(true);
    expect(run('equals(true, "true")')).toBe(true);
    expect(run('equals(null, null)')).toBe(true);
    expect(run('equals(null, "")')).toBe(false);
    expect(run('equals(mail, officeLocation)')).toBe(false);
  });

  it('contains, startsWith, endsWith are case-sensitive and false for null', () => {
    expect(run('contains("Łukasiewicz", "kas")')).toBe(true);
    expect(run('contains("abc", "B")')).toBe(false);
    expect(run('contains("abc", "")')).toBe(true);
    expect(run('contains(mail, "")')).toBe(false);
    expect(run('contains("true", true)')).toBe(true);
    expect(run('startsWith("abc", "ab")')).toBe(true);
    expect(run('startsWith("abc", "b")')).toBe(false);
    expect(run('startsWith(mail, "a")')).toBe(false);
    expect(run('endsWith("guest#EXT#@contoso.onmicrosoft.com", "onmicrosoft.com")')).toBe(true);
    expect(run('endsWith("abc", "b")')).toBe(false);
    expect(run('endsWith(mail, "")')).toBe(false);
  });

  it('matches tests a regular expression', () => {
    expect(run('matches("José", "^\\\\p{L}+$")')).toBe(true);
    expect(run('matches("Jo se", "^\\\\p{L}+$")')).toBe(false);
    expect(run('matches(mail, "x")')).toBe(false);
    expect(run('matches(4711, "^[0-9]+$")')).toBe(true);
    // Repeated use of the same compiled regex does not carry state over.
    const compiled = compileExpression('matches(givenName, "o")', KNOWN);
    expect([1, 2, 3].map(() => compiled.evaluate({ givenName: 'Zoë' }))).toEqual([true, true, true]);
  });

  it('not, and, or use truth', () => {
    expect(run('not(true)')).toBe(false);
    expect(run('not(false)')).toBe(true);
    expect(run('not("false")')).toBe(true);
    expect(run('not("true")')).toBe(false);
    expect(run('not(mail)')).toBe(true);
    expect(run('and(true, "1", 5)')).toBe(true);
    expect(run('and(true, null)')).toBe(false);
    expect(run('or(false, null, "x")')).toBe(false);
    expect(run('or(false, null, "True")')).toBe(true);
  });

  it('lower and upper', () => {
    expect(run('lower("ZOË O\'BRIEN-ŁUKASIEWICZ")')).toBe("zoë o'brien-łukasiewicz");
    expect(run('upper("straße")')).toBe('STRASSE');
    expect(run('lower("İ")')).toBe('i\u0307');
    expect(run('lower(42)')).toBe('42');
    expect(run('upper(true)')).toBe('TRUE');
    expect(run('lower(null)')).toBeNull();
    expect(run('upper(mail)')).toBeNull();
  });

  it('properCase', () => {
    expect(run('properCase("JOSÉ ÁLVAREZ")')).toBe('José Álvarez');
    expect(run("properCase(\"d'angelo o\u2019neil\")")).toBe("D'Angelo O\u2019Neil");
    expect(run('properCase("j.r.r. tolkien")')).toBe('J.R.R. Tolkien');
    expect(run('properCase("3rd floor")')).toBe('3rd Floor');
    expect(run('properCase("rock\'n\'roll")')).toBe("Rock'n'roll");
    expect(run('properCase("e\u0301LISE")')).toBe('E\u0301lise');
    expect(run('properCase(mail)')).toBeNull();
  });

  it('trim and stripSpaces', () => {
    expect(run('trim("\u00a0 a b \t\n")')).toBe('a b');
    expect(run('trim(mail)')).toBeNull();
    expect(run('stripSpaces(" Senior \t Engineer\u00a0")')).toBe('SeniorEngineer');
    expect(run('stripSpaces(mail)')).toBeNull();
  });

  it('localPart and domainPart split at the last @', () => {
    expect(run('localPart("jane_contoso.com#EXT#@tenant.onmicrosoft.com")')).toBe('jane_contoso.com#EXT#');
    expect(run('domainPart("jane_contoso.com#EXT#@tenant.onmicrosoft.com")')).toBe('tenant.onmicrosoft.com');
    expect(run('localPart("\\"a@b\\"@c.org")')).toBe('"a@b"');
    expect(run('localPart("@c.org")')).toBe('');
    expect(run('domainPart("a@")')).toBe('');
    expect(run('localPart(mail)')).toBeNull();
    expect(run('domainPart(mail)')).toBeNull();
  });

  it('left, right and mid count code points', () => {
    expect(run('left("😀😀abc", 3)')).toBe('😀😀a');
    expect(run('left("abc", 0)')).toBe('');
    expect(run('right("abc😀", 2)')).toBe('c😀');
    expect(run('right("abc", 0)')).toBe('');
    expect(run('right("abc", 10)')).toBe('abc');
    expect(run('mid("a😀bcd", 2, 2)')).toBe('😀b');
    expect(run('mid("abc", 3, 5)')).toBe('c');
    expect(run('left(employeeId, "2")')).toBe('47');
  });

  it('left, right, mid return null for null text or a bad number from data', () => {
    expect(run('left(mail, 2)')).toBeNull();
    expect(run('right(mail, 2)')).toBeNull();
    expect(run('mid(mail, 1, 2)')).toBeNull();
    expect(run('left("abc", n)', { n: 'two' })).toBeNull();
    expect(run('left("abc", n)', { n: -1 })).toBeNull();
    expect(run('left("abc", n)', { n: 1.5 })).toBeNull();
    expect(run('mid("abc", n, 1)', { n: 0 })).toBeNull();
    expect(run('left("abc", n)', { n: null })).toBeNull();
  });

  it('truncate cuts at a code point and drops the whitespace left at the cut', () => {
    expect(run('truncate("John Smith", 5)')).toBe('John');
    expect(run('truncate("John Smith", 6)')).toBe('John S');
    expect(run('truncate("  John  ", 10)')).toBe('  John  ');
    expect(run('truncate("ab😀cd", 3)')).toBe('ab😀');
    expect(run('truncate("abc", 0)')).toBe('');
    expect(run('truncate(mail, 3)')).toBeNull();
    expect(run('truncate("abc", n)', { n: 'x' })).toBeNull();
  });

  it('word splits on whitespace or given delimiters', () => {
    expect(run('word("  The quick\tbrown  fox ", 2)')).toBe('quick');
    expect(run('word("  The quick", 1)')).toBe('The');
    expect(run('word("This,string!has&many separators", 3, ",!&#")')).toBe('has');
    expect(run('word("a😀b", 2, "😀")')).toBe('b');
    expect(run('word("abc", 2)')).toBeNull();
    expect(run('word("a b", 1, "")')).toBe('a');
    expect(run('word(mail, 1)')).toBeNull();
  });

  it('padLeft', () => {
    expect(run('padLeft("42", 5, "ab")')).toBe('aba42');
    expect(run('padLeft("42", 5, "")')).toBe('42');
    expect(run('padLeft("42", 5, null)')).toBe('42');
    expect(run('padLeft(42, 4, 0)')).toBe('0042');
    expect(run('padLeft("😀", 2, "0")')).toBe('0😀');
    expect(run('padLeft(mail, 5, "0")')).toBeNull();
    expect(run('padLeft("x", 1000000)')).toHaveLength(EXPRESSION_LIMITS.maxStringLength);
  });

  it('append, concat and join', () => {
    expect(run('append("a", "b")')).toBe('ab');
    expect(run('append(mail, "@x")')).toBe('@x');
    expect(run('append("a", mail)')).toBe('a');
    expect(run('append(mail, "")')).toBeNull();
    expect(run('concat("a", 1, true, null, "")')).toBe('a1true');
    expect(run('concat("")')).toBeNull();
    expect(run('join("-", "a", "", null, "b", 3)')).toBe('a-b-3');
    expect(run('join(null, "a", "b")')).toBe('ab');
    expect(run('join(", ", "only")')).toBe('only');
    expect(run('join(", ", mail, "")')).toBeNull();
  });

  it('replace is literal and replaces every occurrence', () => {
    expect(run('replace("a.b.c", ".", "")')).toBe('abc');
    expect(run('replace("a.b", ".", "$&$1")')).toBe('a$&$1b');
    expect(run('replace("aaa", "aa", "b")')).toBe('ba');
    expect(run('replace("abc", "", "x")')).toBe('abc');
    expect(run('replace("abc", null, "x")')).toBe('abc');
    expect(run('replace("abc", "b", null)')).toBe('ac');
    expect(run('replace(mail, "a", "b")')).toBeNull();
    expect(run('replace(12321, 2, 0)')).toBe('10301');
  });

  it('regexReplace replaces every match and expands $ references', () => {
    expect(run('regexReplace("José Álvarez", "[^a-z]", "")')).toBe('oslvarez');
    expect(run('regexReplace("a-b", "(\\\\w)", "[$1]")')).toBe('[a]-[b]');
    expect(run('regexReplace("john.smith", "(?<first>[a-z]+)\\\\.(?<last>[a-z]+)", "$<last>, $<first>")')).toBe('smith, john');
    expect(run('regexReplace("ab", "b", "$$ $& $2 $9 $<x>")')).toBe('a$ b $2 $9 $<x>');
    expect(run('regexReplace("ab", "(a)", "$10")')).toBe('a0b');
    expect(run('regexReplace("abc", "", "-")')).toBe('-a-b-c-');
    expect(run('regexReplace("a😀b", "", "-")')).toBe('-a-😀-b-');
    expect(run('regexReplace("a😀b", "[^a-z]", "?")')).toBe('a?b');
    expect(run('regexReplace("aaa", "a*", "x")')).toBe('xx');
    expect(run('regexReplace("abc", "b", mail)')).toBe('ac');
    expect(run('regexReplace(mail, "b", "x")')).toBeNull();
  });

  it('regexReplace only looks at the first 4096 characters', () => {
    const long = `${'a'.repeat(5000)}`;
    expect(run('regexReplace(x, "b", "c")', { x: long })).toBe('a'.repeat(4096));
    expect(run('matches(x, "b")', { x: `${'a'.repeat(4096)}b` })).toBe(false);
    expect(run('matches(x, "b")', { x: `${'a'.repeat(4095)}b` })).toBe(true);
    // A cut that would split a surrogate pair drops the whole character.
    expect(run('regexReplace(x, "z", "")', { x: `${'a'.repeat(4095)}😀` })).toBe('a'.repeat(4095));
  });

  it('caps every produced string', () => {
    const max = EXPRESSION_LIMITS.maxStringLength;
    expect(max).toBe(65_536);
    const tenfold = (inner: string): string => `replace(${inner}, "a", "aaaaaaaaaa")`;
    let expr = '"a"';
    for (let i = 0; i < 8; i += 1) expr = tenfold(expr);
    expect(run(expr)).toBe('a'.repeat(max));
    expect(run(`regexReplace(x, "", "${'b'.repeat(100)}")`, { x: 'a'.repeat(4096) })).toHaveLength(max);
    expect(run('concat(x, x, x)', { x: 'a'.repeat(max) })).toHaveLength(max);
    expect(run('lower(x)', { x: 'A'.repeat(max + 10) })).toHaveLength(max);
    // An attribute read as-is is not cut.
    expect(run('x', { x: 'a'.repeat(max + 10) })).toHaveLength(max + 10);
  });

  it('toString and toBoolean', () => {
    expect(run('toString(accountEnabled)')).toBe('true');
    expect(run('toString(false)')).toBe('false');
    expect(run('toString(-42)')).toBe('-42');
    expect(run('toString(mail)')).toBeNull();
    expect(run('toString(n)', { n: 1.5 })).toBe('1.5');
    expect(run('toBoolean(" False ")')).toBe(false);
    expect(run('toBoolean("1")')).toBe(true);
    expect(run('toBoolean(2)')).toBe(true);
    expect(run('toBoolean(n)', { n: Number.NaN })).toBeNull();
    expect(run('toBoolean(null)')).toBeNull();
    expect(run('toBoolean("Y")')).toBeNull();
  });

  it('every one-text function returns null for null', () => {
    for (const name of ['lower', 'upper', 'properCase', 'trim', 'stripSpaces', 'normalizeDiacritics', 'localPart', 'domainPart', 'toString']) {
      expect({ name, value: run(`${name}(mail)`) }).toEqual({ name, value: null });
    }
  });
});

describe('normalizeDiacritics', () => {
  it.each([
    ["Zoë O'Brien-Łukasiewicz", "Zoe O'Brien-Lukasiewicz"],
    ['José Álvarez', 'Jose Alvarez'],
    ['Ångström', 'Angstrom'],
    ['Łódź Gdańsk Kraków', 'Lodz Gdansk Krakow'],
    ['Øre æble Ærø ÆRØ', 'Ore aeble Aero AERO'],
    ['Straße STRAẞE', 'Strasse STRASSE'],
    ['œuvre Œuvre', 'oeuvre Oeuvre'],
    ['Đorđe Þór ÞÓR', 'Dorde Thor THOR'],
    ['Iıl İstanbul', 'Iil Istanbul'],
    ['Ħal Ŋoŋ Ŧ ĸ', 'Hal Non T k'],
    ['Məmmədov Əliyev', 'Mammadov Aliyev'],
    ['paral·lel ŀl', 'paral·lel ll'],
    ['ŉ ẚ', 'n a'],
    ['ﬁancé Ｚoë', 'fiance Zoe'],
    ['e\u0301clair', 'eclair'],
    ['Ǆ ǅ ǆ', 'DZ Dz dz'],
    ['Ștefan Țurcanu', 'Stefan Turcanu'],
    ['Nguyễn Thị Minh Khai', 'Nguyen Thi Minh Khai'],
    ['ǃXóõ', 'Xoo'],
    ['Анна Андрей Ελένη 李', 'Анна Андрей Ελένη 李'],
    ['Kovač Ковач', 'Kovac Ковач'],
    ['\u0301x', 'x'],
    ['™ ①\u00a0Zoë', 'TM 1 Zoe'],
    ['O\u2019Brien 😀 ½', 'O\u2019Brien 😀 1\u20442'],
  ])('%s → %s', (input, output) => {
    expect(normalizeDiacritics(input)).toBe(output);
    expect(run('normalizeDiacritics(x)', { x: input })).toBe(output);
  });
});

describe('evaluateExpression is total', () => {
  it('reads attributes as own properties only', () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
      expect({ name, value: evaluateExpression(parseExpression(name), {}) }).toEqual({ name, value: null });
      expect({ name, value: evaluateExpression(parseExpression(`lower(${name})`), {}) }).toEqual({ name, value: null });
    }
    expect(evaluateExpression(parseExpression('constructor'), { constructor: 'c' })).toBe('c');
    const inherited = Object.create({ givenName: 'inherited' }) as Attrs;
    expect(evaluateExpression(parseExpression('coalesce(givenName, "own only")'), inherited)).toBe('own only');
  });

  it('treats undefined and non-scalar attribute values as null', () => {
    const odd = { a: undefined, b: { x: 1 }, c: ['x'], d: 10n, e: () => 'x' } as unknown as Attrs;
    for (const name of ['a', 'b', 'c', 'd', 'e']) {
      expect({ name, value: evaluateExpression(parseExpression(`coalesce(${name}, "fallback")`), odd) }).toEqual({
        name,
        value: 'fallback',
      });
    }
    expect(evaluateExpression(parseExpression('coalesce(x, "f")'), null as unknown as Attrs)).toBe('f');
  });

  it('evaluates what the checker would reject to null instead of throwing', () => {
    expect(runUnchecked('lowr(givenName)')).toBeNull();
    expect(runUnchecked('lower(givenName, surname)')).toBeNull();
    expect(runUnchecked('iif(true, "a")')).toBeNull();
    expect(runUnchecked('regexReplace(givenName, department, "")')).toBeNull();
    expect(runUnchecked('regexReplace(givenName, "(a+)+", "")')).toBeNull();
    expect(runUnchecked('matches(givenName, "[")')).toBeNull();
    expect(runUnchecked('switch("a", "d", "a")')).toBeNull();
    expect(runUnchecked('switch("a", "d", "a", "A", "b")')).toBe('A');
    expect(runUnchecked('truncate(givenName, "x")')).toBeNull();
    expect(runUnchecked('coalesce(unknownAttribute, "x")')).toBe('x');
    expect(runUnchecked('constructor(givenName)')).toBeNull();
  });

  it('returns null for a hand-built AST deeper than the parser allows, without overflowing the stack', () => {
    let expr: Expression = { kind: 'literal', value: 'x', position: 0 };
    for (let i = 0; i < 100_000; i += 1) expr = { kind: 'call', name: 'lower', args: [expr], position: 0 };
    expect(evaluateExpression(expr, {})).toBeNull();
    let ok: Expression = { kind: 'literal', value: 'X', position: 0 };
    for (let i = 0; i < 32; i += 1) ok = { kind: 'call', name: 'lower', args: [ok], position: 0 };
    expect(evaluateExpression(ok, {})).toBe('x');
  });

  it('returns null for malformed nodes', () => {
    expect(evaluateExpression({ kind: 'bogus' } as unknown as Expression, {})).toBeNull();
    expect(evaluateExpression({ kind: 'literal', value: { x: 1 } } as unknown as Expression, {})).toBeNull();
  });
});

describe('unicode names end to end', () => {
  const userName = 'regexReplace(lower(normalizeDiacritics(join(".", givenName, surname))), "[^a-z0-9.]", "")';
  it.each([
    [{ givenName: 'Zoë', surname: "O'Brien-Łukasiewicz" }, 'zoe.obrienlukasiewicz'],
    [{ givenName: 'José', surname: 'Álvarez' }, 'jose.alvarez'],
    [{ givenName: 'Anders', surname: 'Ångström' }, 'anders.angstrom'],
    [{ givenName: 'Søren', surname: null }, 'soren'],
    [{ givenName: 'Иван', surname: 'Petrov' }, '.petrov'],
  ])('%j → %s', (attrs, expected) => {
    expect(run(userName, attrs)).toBe(expected);
  });

  it('builds a display name within 64 characters', () => {
    const attrs = { displayName: `Zoë ${'Łukasiewicz '.repeat(10)}` };
    const value = run('truncate(normalizeDiacritics(trim(displayName)), 64)', attrs);
    expect(value).toBe(`Zoe ${'Lukasiewicz '.repeat(5)}`.trimEnd());
    expect((value as string).length).toBe(63);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/** Any UTF-16 code unit, lone surrogates included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n));
const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: codeUnit, maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('a', 'Z', ' ', '@', '.', '-', "'", 'é', '\u0301', 'Ł', 'İ', 'ß', '😀', '$', '\\', '\u00a0', '1'), maxLength: 40 }),
);
const hostileValue: fc.Arbitrary<Value | undefined> = fc.oneof(
  hostileString,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
);
const ATTRIBUTE_NAMES = ['givenName', 'surname', 'mail', 'manager.employeeId', 'n'] as const;
const attributesArb: fc.Arbitrary<Attrs> = fc.record(
  Object.fromEntries(ATTRIBUTE_NAMES.map((n) => [n, hostileValue])) as Record<string, fc.Arbitrary<Value | undefined>>,
  { requiredKeys: [] },
);

/** Source text for an AST, for round trips. */
function print(expr: Expression): string {
  switch (expr.kind) {
    case 'attribute':
      return expr.name;
    case 'call':
      return `${expr.name}(${expr.args.map(print).join(', ')})`;
    case 'literal':
      if (typeof expr.value === 'string') {
        const escaped = expr.value.replace(/[\\"\n\r\t]/g, (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c] as string);
        return `"${escaped}"`;
      }
      return String(expr.value);
  }
}

const SAFE_PATTERNS = ['[^a-z0-9.]', '\\s+', '^(\\w+)\\.(\\w+)$', '', 'a*', '.', '(?<x>[A-Z])', '\\p{L}+', '[😀é]'];
const literalArb: fc.Arbitrary<Expression> = fc
  .oneof(hostileString, fc.integer({ min: -1000, max: 1000 }), fc.boolean(), fc.constant(null))
  .map((value) => ({ kind: 'literal', value, position: 0 }));
const attributeArb: fc.Arbitrary<Expression> = fc.constantFrom(...ATTRIBUTE_NAMES).map((name) => ({ kind: 'attribute', name, position: 0 }));

/** Well-formed calls of library functions (right argument counts, literal safe regexes). */
const { expr: validExprArb } = fc.letrec<{ expr: Expression; call: Expression }>((tie) => ({
  expr: fc.oneof({ maxDepth: 4, depthIdentifier: 'expr' }, literalArb, attributeArb, tie('call')),
  call: fc.constantFrom(...EXPRESSION_FUNCTIONS).chain((f) => {
    const max = Math.min(f.maxArgs, f.minArgs + 3);
    return fc
      .tuple(fc.array(tie('expr'), { minLength: f.minArgs, maxLength: max }), fc.constantFrom(...SAFE_PATTERNS))
      .map(([args, pattern]): Expression => {
        const fixed = [...args];
        if (f.name === 'switch' && fixed.length % 2 === 1) fixed.pop();
        if (f.name === 'matches' || f.name === 'regexReplace') fixed[1] = { kind: 'literal', value: pattern, position: 0 };
        return { kind: 'call', name: f.name, args: fixed, position: 0 };
      });
  }),
}));

const BRIEF_EXPRESSIONS = [
  'surname',
  '"Engineering"',
  'coalesce(mail, givenName)',
  'lower(localPart(mail))',
  'truncate(normalizeDiacritics(givenName), 64)',
  'regexReplace(lower(normalizeDiacritics(surname)), "[^a-z0-9.]", "-")',
  'switch(n, "other", "Engineering", "eng", "Finance", "fin")',
  'iif(equals(n, "Contractor"), "ext", "int")',
  'join(".", left(givenName, n), mid(surname, n, n), right(mail, 3), word(manager.employeeId, n, " -"))',
  'padLeft(n, 8, "0")',
  'properCase(concat(givenName, " ", surname))',
  'regexReplace(mail, "^([^@]*)@(.*)$", "$2/$1")',
];

describe('properties', () => {
  it('parse never throws anything but a positioned ExpressionError', () => {
    const grammarish = fc.string({
      unit: fc.constantFrom('lower', 'coalesce', '(', ')', ',', ' ', '"', "'", '\\', 'a', '.', '-', '1', 'true', '\n', 'é', '😀', '[', 'x_y'),
      maxLength: 30,
    });
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: codeUnit }), grammarish), (source) => {
        try {
          parseExpression(source);
        } catch (err) {
          if (!(err instanceof ExpressionError)) throw err;
          expect(err.source).toBe(source);
          expect(err.position).toBeGreaterThanOrEqual(0);
          expect(err.position).toBeLessThanOrEqual(source.length);
          expect(err.message).toContain(`column ${err.position + 1}`);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('printing and parsing a well-formed expression gives it back, with positions pointing at each node', () => {
    fc.assert(
      fc.property(validExprArb, (expr) => {
        const source = print(expr);
        fc.pre(source.length <= EXPRESSION_LIMITS.maxSourceLength);
        const parsed = parseExpression(source);
        expect(shape(parsed)).toEqual(shape(expr));
        const visit = (node: Expression): void => {
          if (node.kind === 'attribute') expect(source.startsWith(node.name, node.position)).toBe(true);
          if (node.kind === 'call') {
            expect(source.startsWith(`${node.name}(`, node.position)).toBe(true);
            node.args.forEach(visit);
          }
        };
        visit(parsed);
        expect(checkExpression(parsed, new Set(ATTRIBUTE_NAMES)).filter((p) => !p.includes('whole number'))).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it('evaluate never throws and returns a bounded Value, whatever the attribute values', () => {
    const known = new Set<string>(ATTRIBUTE_NAMES);
    const compiled = BRIEF_EXPRESSIONS.map((source) => compileExpression(source, known));
    const isValue = (v: unknown): boolean =>
      v === null || typeof v === 'number' || typeof v === 'boolean' || (typeof v === 'string' && v.length <= EXPRESSION_LIMITS.maxStringLength);
    fc.assert(
      fc.property(attributesArb, (attrs) => {
        for (const c of compiled) expect(isValue(c.evaluate(attrs))).toBe(true);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(validExprArb, attributesArb, (expr, attrs) => {
        expect(isValue(evaluateExpression(expr, attrs))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('evaluate is deterministic', () => {
    fc.assert(
      fc.property(validExprArb, attributesArb, (expr, attrs) => {
        expect(evaluateExpression(expr, attrs)).toEqual(evaluateExpression(expr, attrs));
      }),
      { numRuns: 300 },
    );
  });

  it('normalizeDiacritics turns Latin-script text into ASCII', () => {
    const latin: string[] = [];
    const ranges: Array<[number, number]> = [[0x41, 0x5a], [0x61, 0x7a], [0xc0, 0x24f], [0x250, 0x2af], [0x1e00, 0x1eff], [0x2c60, 0x2c7f], [0xa720, 0xa7ff], [0xfb00, 0xfb06], [0xff21, 0xff5a]];
    for (const [from, to] of ranges) {
      for (let c = from; c <= to; c += 1) {
        const ch = String.fromCodePoint(c);
        if (/\p{Script=Latin}/u.test(ch) && /\p{L}/u.test(ch)) latin.push(ch);
      }
    }
    expect(latin.length).toBeGreaterThan(900);
    const text = fc.string({ unit: fc.oneof(fc.constantFrom(...latin), fc.constantFrom(' ', '-', "'", '.', '\u0301', '\u0308')), maxLength: 30 });
    const compiled = compileExpression('normalizeDiacritics(x)', new Set(['x']));
    fc.assert(
      fc.property(text, (s) => {
        const out = compiled.evaluate({ x: s });
        expect(out).toMatch(/^[\x20-\x7e]*$/);
        expect(normalizeDiacritics(out as string)).toBe(out);
      }),
      { numRuns: 2000 },
    );
    // Every single Latin letter, not just a sample.
    expect(latin.filter((ch) => !/^[\x20-\x7e]*$/.test(normalizeDiacritics(ch)))).toEqual([]);
  });

  it('normalizeDiacritics leaves ASCII unchanged', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary-ascii' }).filter((s) => !/[\u0080-\uffff]/.test(s)), (s) => normalizeDiacritics(s) === s));
  });

  it('lower and upper are idempotent', () => {
    const lower = compileExpression('lower(x)', new Set(['x']));
    const lowerTwice = compileExpression('lower(lower(x))', new Set(['x']));
    const upper = compileExpression('upper(x)', new Set(['x']));
    const upperTwice = compileExpression('upper(upper(x))', new Set(['x']));
    fc.assert(
      fc.property(fc.oneof(hostileString, fc.string({ unit: 'grapheme' })), (x) => {
        expect(lowerTwice.evaluate({ x })).toBe(lower.evaluate({ x }));
        expect(upperTwice.evaluate({ x })).toBe(upper.evaluate({ x }));
      }),
      { numRuns: 2000 },
    );
  });
});
