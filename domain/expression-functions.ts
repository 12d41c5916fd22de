/**
 * The function library of the attribute-mapping expression language (see domain/expression.ts and
 * docs/expressions.md). Every function is total: whatever the data, it returns a Value and never
 * throws. Pure: no I/O, no clock, no randomness, so it is safe in replayed workflow code.
 */
/** A value an expression works with: what Entra attributes hold once read. */
export type Value = string | number | boolean | null;

/** Hard limits that keep hostile configuration or data from exhausting CPU or memory. */
export const EXPRESSION_LIMITS = Object.freeze({
  /** Longest expression source accepted (the same limit Entra ID uses). */
  maxSourceLength: 10_000,
  /** Deepest nesting of function calls. */
  maxDepth: 32,
  /** Longest regular-expression pattern accepted. */
  maxRegexLength: 256,
  /** Regular expressions only ever see the first this-many characters of their input. */
  maxRegexInput: 4096,
  /** Strings produced by functions are cut to this many UTF-16 code units. */
  maxStringLength: 65_536,
});

// ---------------------------------------------------------------------------------------------
// Value helpers
// ---------------------------------------------------------------------------------------------

/** The string form of a value: booleans are "true"/"false", numbers go through String(); null stays null. */
export function valueToString(v: Value): string | null {
  if (v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return String(v);
}

/** Empty means null or the empty string. Whitespace is not empty. */
export function isEmptyValue(v: Value): boolean {
  return v === null || v === '';
}

/** true/false for booleans, numbers (0 is false) and the strings "true"/"false"/"1"/"0" (any case, trimmed); else null. */
export function valueToBoolean(v: Value): boolean | null {
  if (v === null) return null;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isNaN(v) ? null : v !== 0;
  const s = v.trim().toLowerCase();
  if (s === 'true' || s === '1') return true;
  if (s === 'false' || s === '0') return false;
  return null;
}

/** A safe integer from a number or a string of digits; anything else is null. */
export function valueToInteger(v: Value): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : null;
  if (typeof v === 'string' && /^\s*-?\d{1,15}\s*$/.test(v)) return Number.parseInt(v, 10);
  return null;
}

/** Two values are equal when both are null, or neither is and their string forms are identical. */
export function valuesEqual(a: Value, b: Value): boolean {
  if (a === null || b === null) return a === b;
  return valueToString(a) === valueToString(b);
}

/** The first `max` UTF-16 code units of `s`, never splitting a surrogate pair. */
export function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = Math.max(0, max);
  const last = s.charCodeAt(end - 1);
  if (end > 0 && last >= 0xd800 && last <= 0xdbff) end -= 1;
  return s.slice(0, end);
}

/** Concatenates pieces, stopping at a length limit so no intermediate string can grow without bound. */
class Builder {
  private readonly parts: string[] = [];
  private length = 0;
  full = false;
  constructor(private readonly limit: number) {}
  add(piece: string): void {
    if (this.full || piece === '') return;
    const room = this.limit - this.length;
    if (piece.length > room) {
      piece = clip(piece, room);
      this.full = true;
    }
    this.parts.push(piece);
    this.length += piece.length;
    if (this.length >= this.limit) this.full = true;
  }
  toString(): string {
    return this.parts.join('');
  }
}

// ---------------------------------------------------------------------------------------------
// normalizeDiacritics
// ---------------------------------------------------------------------------------------------

/** Letters whose compatibility decomposition is not plain ASCII (or that have none at all). */
const BEFORE_DECOMPOSITION: Readonly<Record<string, string>> = {
  '\u013f': 'L', // Ŀ decomposes to L + middle dot
  '\u0140': 'l', // ŀ
  '\u0149': 'n', // ŉ decomposes to modifier apostrophe + n
  '\u1e9a': 'a', // ẚ decomposes to a + modifier half ring
};

const LETTER_MAP: Readonly<Record<string, string>> = {
  // Latin-1 Supplement and Latin Extended-A
  'Æ': 'AE', 'æ': 'ae', 'Ð': 'D', 'ð': 'd', 'Ø': 'O', 'ø': 'o', 'Þ': 'TH', 'þ': 'th', 'ß': 'ss', 'ẞ': 'SS',
  'Đ': 'D', 'đ': 'd', 'Ħ': 'H', 'ħ': 'h', 'ı': 'i', 'ĸ': 'k', 'Ł': 'L', 'ł': 'l', 'Ŋ': 'N', 'ŋ': 'n',
  'Œ': 'OE', 'œ': 'oe', 'Ŧ': 'T', 'ŧ': 't',
  // Latin Extended-B and IPA letters used in names (African, Azerbaijani, Sami, older orthographies)
  'ƀ': 'b', 'Ɓ': 'B', 'ɓ': 'b', 'Ƃ': 'B', 'ƃ': 'b', 'Ɔ': 'O', 'ɔ': 'o', 'Ƈ': 'C', 'ƈ': 'c', 'Ɖ': 'D',
  'ɖ': 'd', 'Ɗ': 'D', 'ɗ': 'd', 'Ƌ': 'D', 'ƌ': 'd', 'Ǝ': 'E', 'ǝ': 'e', 'Ə': 'A', 'ə': 'a', 'Ɛ': 'E',
  'ɛ': 'e', 'Ƒ': 'F', 'ƒ': 'f', 'Ɠ': 'G', 'ɠ': 'g', 'Ɣ': 'G', 'ɣ': 'g', 'ƕ': 'hv', 'Ƕ': 'Hv', 'Ɩ': 'I',
  'ɩ': 'i', 'Ɨ': 'I', 'ɨ': 'i', 'Ƙ': 'K', 'ƙ': 'k', 'ƚ': 'l', 'Ƚ': 'L', 'Ɯ': 'M', 'ɯ': 'm', 'Ɲ': 'N',
  'ɲ': 'n', 'ƞ': 'n', 'Ƞ': 'N', 'Ɵ': 'O', 'ɵ': 'o', 'Ƣ': 'OI', 'ƣ': 'oi', 'Ƥ': 'P', 'ƥ': 'p', 'Ʀ': 'R',
  'ƫ': 't', 'Ƭ': 'T', 'ƭ': 't', 'Ʈ': 'T', 'ʈ': 't', 'Ʊ': 'U', 'ʊ': 'u', 'Ʋ': 'V', 'ʋ': 'v', 'Ƴ': 'Y',
  'ƴ': 'y', 'Ƶ': 'Z', 'ƶ': 'z', 'Ʒ': 'Z', 'ʒ': 'z', 'Ǥ': 'G', 'ǥ': 'g', 'Ƿ': 'W', 'ƿ': 'w', 'Ȝ': 'Y',
  'ȝ': 'y', 'ȡ': 'd', 'Ȣ': 'OU', 'ȣ': 'ou', 'Ȥ': 'Z', 'ȥ': 'z', 'ȴ': 'l', 'ȵ': 'n', 'ȶ': 't', 'ȷ': 'j',
  'ȸ': 'db', 'ȹ': 'qp', 'Ⱥ': 'A', 'Ȼ': 'C', 'ȼ': 'c', 'Ⱦ': 'T', 'ȿ': 's', 'ɀ': 'z', 'Ƀ': 'B', 'Ʉ': 'U',
  'ʉ': 'u', 'Ʌ': 'V', 'ʌ': 'v', 'Ɇ': 'E', 'ɇ': 'e', 'Ɉ': 'J', 'ɉ': 'j', 'Ɋ': 'Q', 'ɋ': 'q', 'Ɍ': 'R',
  'ɍ': 'r', 'Ɏ': 'Y', 'ɏ': 'y', 'ɐ': 'a', 'ɑ': 'a', 'Ɑ': 'A', 'ɒ': 'o', 'ɡ': 'g', 'ɦ': 'h', 'ɪ': 'i',
  'ɫ': 'l', 'ɬ': 'l', 'ɭ': 'l', 'ɱ': 'm', 'ɳ': 'n', 'ɽ': 'r', 'ɾ': 'r', 'ʂ': 's', 'ʐ': 'z', 'ʑ': 'z',
  // Latin Extended Additional
  'ẜ': 's', 'ẝ': 's', 'ẟ': 'd', 'Ỻ': 'LL', 'ỻ': 'll', 'Ỽ': 'V', 'ỽ': 'v', 'Ỿ': 'Y', 'ỿ': 'y',
};

const isLatinOrAscii = (ch: string): boolean => ch < '\x80' || /\p{Script=Latin}/u.test(ch);

/**
 * Latin letters to plain ASCII: compatibility decomposition (NFKD), combining marks removed, then a
 * table for letters that do not decompose (ł→l, ø→o, ß→ss, æ→ae, œ→oe, đ→d, þ→th, ı→i, ...;
 * capitals that become two letters are title-cased unless a capital follows: Þór → Thor, ÆRØ → AERO).
 * Latin letters still not ASCII after that are dropped. Characters of other scripts keep their
 * marks (Cyrillic й, Greek ή stay as they are); punctuation and symbols are left alone except for
 * their compatibility forms (ﬁ → fi, ™ → TM, no-break space → space).
 */
export function normalizeDiacritics(s: string): string {
  // One base character with the combining marks that follow it (or marks with no base at all).
  return s.replace(/\p{M}+|\P{M}\p{M}*/gu, (cluster: string, offset: number) => {
    const base = String.fromCodePoint(cluster.codePointAt(0) ?? 0);
    if (/^\p{M}/u.test(base)) return ''; // marks with nothing to sit on
    const pre = BEFORE_DECOMPOSITION[base];
    const decomposed = (pre === undefined ? cluster : pre + cluster.slice(base.length)).normalize('NFKD');
    if (!isLatinOrAscii(String.fromCodePoint(decomposed.codePointAt(0) ?? 0))) return cluster;
    const stripped = decomposed.replace(/\p{M}/gu, '');
    return stripped.replace(/[\u0080-\u{10ffff}]/gu, (ch: string) => {
      const mapped = LETTER_MAP[ch];
      if (mapped === undefined) return /\p{Script=Latin}/u.test(ch) ? '' : ch;
      // Æ, Œ, Þ, ẞ: "AE" before a capital (ÆRØ → AERO), "Ae" otherwise (Ærø → Aero, Þór → Thor).
      if (mapped.length > 1 && mapped === mapped.toUpperCase() && !/^\p{Lu}/u.test(s.slice(offset + cluster.length))) {
        return mapped[0] + mapped.slice(1).toLowerCase();
      }
      return mapped;
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Regular expressions: checked for catastrophic backtracking, compiled once
// ---------------------------------------------------------------------------------------------

/** Quantifier bounds; max is Infinity for *, + and {n,}. */
interface Bounds {
  readonly min: number;
  readonly max: number;
}
interface RegexAtom {
  readonly kind: 'atom';
  /** Which PROBES the atom matches: an approximation of its character set. */
  readonly set: readonly boolean[];
  bounds: Bounds;
}
interface RegexGroup {
  readonly kind: 'group';
  readonly alternatives: RegexItem[][];
  readonly lookaround: boolean;
  bounds: Bounds;
}
type RegexItem = RegexAtom | RegexGroup;

/** A repetition wider than this counts as unbounded for the backtracking heuristic. */
const WIDE = 16;

/** Characters used to approximate character sets: ASCII, a few spaces, accented letters, other scripts. */
const PROBES: readonly string[] = [
  '\t', '\n', '\r', '\u00a0', '\u2028', 'é', 'É', 'ß', 'Ł', 'ł', '\u0301', '\u2019', 'Ж', '中', '😀',
  ...Array.from({ length: 0x7f - 0x20 }, (_, k) => String.fromCharCode(0x20 + k)),
];

function probeSet(atom: string): boolean[] {
  try {
    const re = new RegExp(`^(?:${atom})$`, 'u');
    return PROBES.map((p) => re.test(p));
  } catch {
    return PROBES.map(() => true);
  }
}

const overlaps = (a: readonly boolean[], b: readonly boolean[]): boolean => a.some((x, k) => x && b[k] === true);
const union = (sets: ReadonlyArray<readonly boolean[]>): boolean[] => PROBES.map((_, k) => sets.some((s) => s[k] === true));

class RegexHazard extends Error {}

/** Parses a pattern that RegExp has already accepted (u flag) into atoms and groups. */
function parseRegexStructure(pattern: string): RegexItem[][] {
  let i = 0;
  const alternatives = (): RegexItem[][] => {
    const alts: RegexItem[][] = [[]];
    while (i < pattern.length && pattern[i] !== ')') {
      if (pattern[i] === '|') {
        alts.push([]);
        i += 1;
        continue;
      }
      const item = term();
      const quantifier = /^(?:([*+?])|\{(\d+)(?:(,)(\d*))?\})\??/.exec(pattern.slice(i, i + 40));
      if (quantifier) {
        i += quantifier[0].length;
        const [, symbol, minText, comma, maxText] = quantifier;
        if (item) {
          if (symbol !== undefined) {
            item.bounds = { min: symbol === '+' ? 1 : 0, max: symbol === '?' ? 1 : Infinity };
          } else {
            const min = Number(minText);
            item.bounds = { min, max: comma === undefined ? min : maxText ? Number(maxText) : Infinity };
          }
        }
      }
      if (item) (alts[alts.length - 1] as RegexItem[]).push(item);
    }
    return alts;
  };
  const term = (): RegexItem | null => {
    const ch = pattern[i] as string;
    if (ch === '^' || ch === '$') {
      i += 1;
      return null;
    }
    if (ch === '(') {
      i += 1;
      let prefix = '';
      if (pattern[i] === '?') {
        prefix = /^\?(?::|=|!|<=|<!|<[^>]*>)/.exec(pattern.slice(i))?.[0] ?? '?';
        i += prefix.length;
      }
      const alts = alternatives();
      i += 1; // ")"
      const lookaround = prefix === '?=' || prefix === '?!' || prefix === '?<=' || prefix === '?<!';
      return { kind: 'group', alternatives: alts, lookaround, bounds: { min: 1, max: 1 } };
    }
    let source: string;
    if (ch === '[') {
      let j = i + 1;
      while (j < pattern.length && pattern[j] !== ']') j += pattern[j] === '\\' ? 2 : 1;
      source = pattern.slice(i, j + 1);
    } else if (ch === '\\') {
      const next = pattern[i + 1] ?? '';
      if (/[1-9]/.test(next) || next === 'k') throw new RegexHazard('it uses a backreference');
      if (next === 'b' || next === 'B') {
        i += 2;
        return null;
      }
      const escape = /^\\(?:[pP]\{[^}]*\}|u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|c[A-Za-z])/.exec(pattern.slice(i));
      source = escape ? escape[0] : `\\${String.fromCodePoint(pattern.codePointAt(i + 1) ?? 0)}`;
    } else {
      source = String.fromCodePoint(pattern.codePointAt(i) ?? 0);
    }
    i += source.length;
    return { kind: 'atom', set: probeSet(source), bounds: { min: 1, max: 1 } };
  };
  return alternatives();
}

function allItems(items: readonly RegexItem[]): RegexItem[] {
  return items.flatMap((item) => (item.kind === 'group' ? [item, ...item.alternatives.flatMap(allItems)] : [item]));
}

function minLength(item: RegexItem): number {
  if (item.kind === 'atom') return item.bounds.min;
  if (item.lookaround) return 0;
  const inner = Math.min(...item.alternatives.map((alt) => alt.reduce((sum, x) => sum + minLength(x), 0)));
  return item.bounds.min * inner;
}

interface Entry {
  readonly set: readonly boolean[];
  readonly mandatory: boolean;
  readonly wide: boolean;
}

/**
 * A sequence as a flat list of entries: plain and optional groups are inlined, other groups are
 * summarised as one entry and collected in `opaque` so their insides are analysed on their own.
 */
function flatten(items: readonly RegexItem[], optional: boolean, opaque: RegexGroup[]): Entry[] {
  return items.flatMap((item): Entry[] => {
    if (item.kind === 'atom') {
      return [{ set: item.set, mandatory: !optional && item.bounds.min > 0, wide: item.bounds.max > WIDE }];
    }
    if (item.alternatives.length === 1 && item.bounds.max <= 1 && !item.lookaround) {
      return flatten(item.alternatives[0] as RegexItem[], optional || item.bounds.min === 0, opaque);
    }
    opaque.push(item);
    if (item.lookaround) return [];
    const inner = allItems(item.alternatives.flat());
    const atoms = inner.filter((x): x is RegexAtom => x.kind === 'atom');
    return [
      {
        set: union(atoms.map((a) => a.set)),
        mandatory: !optional && minLength(item) > 0,
        wide: item.bounds.max > WIDE || inner.some((x) => x.bounds.max > WIDE),
      },
    ];
  });
}

/** Pairs of unbounded repetitions that can match the same characters with nothing forcing them apart. */
function ambiguousPairs(entries: readonly Entry[]): number {
  let pairs = 0;
  for (let a = 0; a < entries.length; a += 1) {
    const first = entries[a] as Entry;
    if (!first.wide) continue;
    for (let b = a + 1; b < entries.length; b += 1) {
      const second = entries[b] as Entry;
      if (!second.wide || !overlaps(first.set, second.set)) continue;
      const separated = entries
        .slice(a + 1, b)
        .some((between) => between.mandatory && (!overlaps(between.set, first.set) || !overlaps(between.set, second.set)));
      if (!separated) pairs += 1;
    }
  }
  return pairs;
}

/**
 * A conservative heuristic for patterns that can backtrack catastrophically. It rejects
 * - a repeated group that contains another quantifier, as in `(a+)+` or `(\w+\s?)*` (exponential);
 * - a repeated group that contains alternatives, as in `(a|ab)*` (exponential);
 * - backreferences;
 * - two unbounded repetitions that can match the same characters with nothing between them that
 *   only one of them can match, as in `\s*\s*x`, `.*@.*` or `\S+@\S+` (polynomial: on 4096
 *   characters already minutes). A pattern anchored with ^ is allowed one such pair.
 * Returns why the pattern is rejected, or null. It expects a pattern RegExp accepted with the u flag.
 */
export function regexHazard(pattern: string): string | null {
  let alternatives: RegexItem[][];
  try {
    alternatives = parseRegexStructure(pattern);
  } catch (err) {
    if (err instanceof RegexHazard) return err.message;
    throw err;
  }
  const everything = allItems(alternatives.flat());
  for (const item of everything) {
    if (item.kind !== 'group' || item.bounds.max <= 1) continue;
    const inner = allItems(item.alternatives.flat());
    if (inner.some((x) => x.bounds.min !== x.bounds.max || (x.kind === 'group' && x.bounds.max > 1))) {
      return 'a repeated group contains another quantifier, as in (a+)+';
    }
    if (item.alternatives.length > 1 || inner.some((x) => x.kind === 'group' && x.alternatives.length > 1)) {
      return 'a repeated group contains alternatives, as in (a|ab)*; use a character class such as [ab]* instead';
    }
  }
  // Anchored at the start, a pattern is tried at one position only, which buys one ambiguous pair.
  const anchored = pattern.startsWith('^') && alternatives.length === 1;
  let pairs = 0;
  const pending: RegexItem[][][] = [alternatives];
  for (let alts = pending.pop(); alts !== undefined; alts = pending.pop()) {
    for (const alt of alts) {
      const opaque: RegexGroup[] = [];
      pairs += ambiguousPairs(flatten(alt, false, opaque));
      pending.push(...opaque.map((g) => g.alternatives));
    }
  }
  if (pairs > (anchored ? 1 : 0)) {
    return 'two unbounded repetitions can match the same characters, as in \\s*\\s* or .*@.*; make them exclusive, e.g. [^@]* instead of .*';
  }
  return null;
}

export type RegexCompilation = { ok: true; regex: RegExp } | { ok: false; problem: string };

/** Compiles a pattern from configuration after the length and backtracking checks. */
export function compileSafeRegex(pattern: string, flags: string, where = ''): RegexCompilation {
  const shown = JSON.stringify(pattern.length > 60 ? `${pattern.slice(0, 60)}…` : pattern);
  if (pattern.length > EXPRESSION_LIMITS.maxRegexLength) {
    return {
      ok: false,
      problem: `regular expression ${shown}${where} is ${pattern.length} characters long; the limit is ${EXPRESSION_LIMITS.maxRegexLength}`,
    };
  }
  let regex: RegExp;
  try {
    regex = new RegExp(pattern, flags);
  } catch (err) {
    const detail = err instanceof Error ? err.message.replace(/^.*: /, '') : String(err);
    return { ok: false, problem: `invalid regular expression ${shown}${where}: ${detail}` };
  }
  const hazard = regexHazard(pattern);
  if (hazard !== null) {
    return { ok: false, problem: `regular expression ${shown}${where} may backtrack catastrophically: ${hazard}` };
  }
  return { ok: true, regex };
}

/** Expands $$, $&, $1..$99 and $<name> in a replacement; anything else is literal. */
function expandReplacement(replacement: string, match: RegExpExecArray): string {
  if (!replacement.includes('$')) return replacement;
  const groups = match.length - 1;
  return replacement.replace(/\$(\$|&|\d{1,2}|<([^>]*)>)/g, (whole, token: string, name: string | undefined) => {
    if (token === '$') return '$';
    if (token === '&') return match[0];
    if (name !== undefined) {
      if (!match.groups || !(name in match.groups)) return whole;
      return match.groups[name] ?? '';
    }
    const two = Number(token);
    if (token.length === 2 && two >= 1 && two <= groups) return match[two] ?? '';
    const one = Number(token[0]);
    if (one >= 1 && one <= groups) return (match[one] ?? '') + token.slice(1);
    return whole;
  });
}

function regexReplaceAll(input: string, regex: RegExp, replacement: string): string {
  const out = new Builder(EXPRESSION_LIMITS.maxStringLength);
  regex.lastIndex = 0;
  let last = 0;
  while (!out.full) {
    const match = regex.exec(input);
    if (match === null) break;
    out.add(input.slice(last, match.index));
    out.add(expandReplacement(replacement, match));
    last = match.index + match[0].length;
    if (match[0].length === 0) {
      // Step over one code point so an empty match cannot repeat forever.
      const code = input.charCodeAt(regex.lastIndex);
      regex.lastIndex += code >= 0xd800 && code <= 0xdbff ? 2 : 1;
      if (regex.lastIndex > input.length) break;
    }
  }
  out.add(input.slice(last));
  regex.lastIndex = 0;
  return out.toString();
}

function replaceAllLiteral(input: string, find: string, replacement: string): string {
  if (find === '') return input;
  const out = new Builder(EXPRESSION_LIMITS.maxStringLength);
  let last = 0;
  while (!out.full) {
    const at = input.indexOf(find, last);
    if (at < 0) break;
    out.add(input.slice(last, at));
    out.add(replacement);
    last = at + find.length;
  }
  out.add(input.slice(last));
  return out.toString();
}

// ---------------------------------------------------------------------------------------------
// The functions
// ---------------------------------------------------------------------------------------------

/** An argument that must be a whole number: `min` is the smallest allowed value. */
export interface IntegerParameter {
  readonly index: number;
  readonly name: string;
  readonly min: number;
}

export interface FunctionDefinition {
  readonly name: string;
  readonly signature: string;
  readonly description: string;
  readonly minArgs: number;
  readonly maxArgs: number;
  /** Index of the argument that must be a string literal holding a regular expression. */
  readonly regexArg?: number;
  readonly regexFlags?: string;
  /** Arguments that must be whole numbers (checked when they are literals; null at run time otherwise). */
  readonly integerArgs?: readonly IntegerParameter[];
  /** switch: after the first `pairsFrom` arguments, the rest must come in pairs. */
  readonly pairsFrom?: number;
  /** The implementation. `regex` is the compiled pattern for functions with `regexArg`. */
  readonly apply: (args: readonly Value[], regex: RegExp | null) => Value;
}

type Impl = FunctionDefinition['apply'];

/** A function of one string: null in, null out. */
function stringFn(fn: (s: string) => Value): Impl {
  return (args) => {
    const s = valueToString(args[0] ?? null);
    return s === null ? null : fn(s);
  };
}

/** Integer argument `index` at run time: null unless it is a whole number >= min. */
function intArg(args: readonly Value[], index: number, min: number): number | null {
  const n = valueToInteger(args[index] ?? null);
  return n === null || n < min ? null : n;
}

function codePointSlice(s: string, start: number, end?: number): string {
  return Array.from(s).slice(start, end).join('');
}

function concatValues(values: readonly Value[], separator: string): Value {
  const out = new Builder(EXPRESSION_LIMITS.maxStringLength);
  let any = false;
  for (const v of values) {
    const s = valueToString(v);
    if (s === null || s === '') continue;
    if (any) out.add(separator);
    out.add(s);
    any = true;
  }
  return any ? out.toString() : null;
}

const APOSTROPHES = new Set(["'", '\u2019']);

function properCase(s: string): string {
  let out = '';
  let wordLength = 0;
  for (const ch of s.toLowerCase()) {
    if (/\p{M}/u.test(ch)) {
      out += ch;
    } else if (/[\p{L}\p{N}]/u.test(ch)) {
      out += wordLength === 0 && /\p{L}/u.test(ch) ? ch.toUpperCase() : ch;
      wordLength += 1;
    } else if (APOSTROPHES.has(ch) && wordLength > 1) {
      out += ch; // it's, rock'n'roll: the apostrophe is inside the word
    } else {
      out += ch; // O'Brien, d'Artagnan, Smith-Jones, J.R.: a new word starts
      wordLength = 0;
    }
  }
  return out;
}

function word(s: string, n: number, delimiters: string | null): Value {
  let words: string[];
  if (delimiters === null || delimiters === '') {
    words = s.split(/\s+/u);
  } else {
    const set = new Set(Array.from(delimiters));
    words = [];
    let current = '';
    for (const ch of s) {
      if (set.has(ch)) {
        words.push(current);
        current = '';
      } else {
        current += ch;
      }
    }
    words.push(current);
  }
  return words.filter((w) => w !== '')[n - 1] ?? null;
}

function padLeft(s: string, length: number, pad: string): string {
  const chars = Array.from(s);
  const target = Math.min(length, EXPRESSION_LIMITS.maxStringLength);
  const padChars = Array.from(pad);
  if (chars.length >= target || padChars.length === 0) return s;
  const missing = target - chars.length;
  let prefix = '';
  for (let i = 0; i < missing; i += 1) prefix += padChars[i % padChars.length];
  return prefix + s;
}

const VARIADIC = Number.POSITIVE_INFINITY;

/** A two-argument text test that is false (not null) when the text is null. */
function textTest(test: (text: string, part: string) => boolean): (args: readonly Value[]) => boolean {
  return (args) => {
    const text = valueToString(args[0] ?? null);
    return text !== null && test(text, valueToString(args[1] ?? null) ?? '');
  };
}

export const FUNCTION_DEFINITIONS: readonly FunctionDefinition[] = [
  // Choosing a value
  {
    name: 'coalesce',
    signature: 'coalesce(value1, value2, ...)',
    description: 'The first argument that is not empty (null or ""); null if all are empty.',
    minArgs: 1,
    maxArgs: VARIADIC,
    apply: (args) => args.find((v) => !isEmptyValue(v)) ?? null,
  },
  {
    name: 'iif',
    signature: 'iif(condition, whenTrue, whenFalse)',
    description: 'whenTrue if condition is true (a boolean true, or "true"/"1"), otherwise whenFalse.',
    minArgs: 3,
    maxArgs: 3,
    apply: (args) => (valueToBoolean(args[0] ?? null) === true ? (args[1] ?? null) : (args[2] ?? null)),
  },
  {
    name: 'switch',
    signature: 'switch(value, default, key1, result1, key2, result2, ...)',
    description: 'The result paired with the first key equal to value (exact, case-sensitive); default if none is.',
    minArgs: 4,
    maxArgs: VARIADIC,
    pairsFrom: 2,
    apply: (args) => {
      const value = args[0] ?? null;
      for (let i = 2; i + 1 < args.length; i += 2) {
        if (valuesEqual(value, args[i] ?? null)) return args[i + 1] ?? null;
      }
      return args[1] ?? null;
    },
  },
  // Conditions
  {
    name: 'isEmpty',
    signature: 'isEmpty(value)',
    description: 'true if value is null or "" (Entra: IsNullOrEmpty).',
    minArgs: 1,
    maxArgs: 1,
    apply: (args) => isEmptyValue(args[0] ?? null),
  },
  {
    name: 'isPresent',
    signature: 'isPresent(value)',
    description: 'true if value is neither null nor "".',
    minArgs: 1,
    maxArgs: 1,
    apply: (args) => !isEmptyValue(args[0] ?? null),
  },
  {
    name: 'equals',
    signature: 'equals(a, b)',
    description: 'true if both are null, or neither is and their string forms are identical (case-sensitive).',
    minArgs: 2,
    maxArgs: 2,
    apply: (args) => valuesEqual(args[0] ?? null, args[1] ?? null),
  },
  {
    name: 'contains',
    signature: 'contains(text, part)',
    description: 'true if text contains part (case-sensitive); false if text is null.',
    minArgs: 2,
    maxArgs: 2,
    apply: textTest((text, part) => text.includes(part)),
  },
  {
    name: 'startsWith',
    signature: 'startsWith(text, prefix)',
    description: 'true if text starts with prefix (case-sensitive); false if text is null.',
    minArgs: 2,
    maxArgs: 2,
    apply: textTest((text, part) => text.startsWith(part)),
  },
  {
    name: 'endsWith',
    signature: 'endsWith(text, suffix)',
    description: 'true if text ends with suffix (case-sensitive); false if text is null.',
    minArgs: 2,
    maxArgs: 2,
    apply: textTest((text, part) => text.endsWith(part)),
  },
  {
    name: 'matches',
    signature: 'matches(text, "pattern")',
    description: 'true if the regular expression (a string literal) matches somewhere in text; false if text is null.',
    minArgs: 2,
    maxArgs: 2,
    regexArg: 1,
    regexFlags: 'u',
    apply: (args, regex) => {
      const s = valueToString(args[0] ?? null);
      if (regex === null) return null;
      if (s === null) return false;
      regex.lastIndex = 0;
      return regex.test(clip(s, EXPRESSION_LIMITS.maxRegexInput));
    },
  },
  {
    name: 'not',
    signature: 'not(condition)',
    description: 'true if condition is not true (false, null and anything that is not "true"/"1" count as not true).',
    minArgs: 1,
    maxArgs: 1,
    apply: (args) => valueToBoolean(args[0] ?? null) !== true,
  },
  {
    name: 'and',
    signature: 'and(condition1, condition2, ...)',
    description: 'true if every condition is true.',
    minArgs: 2,
    maxArgs: VARIADIC,
    apply: (args) => args.every((v) => valueToBoolean(v) === true),
  },
  {
    name: 'or',
    signature: 'or(condition1, condition2, ...)',
    description: 'true if at least one condition is true.',
    minArgs: 2,
    maxArgs: VARIADIC,
    apply: (args) => args.some((v) => valueToBoolean(v) === true),
  },
  // Case and spacing
  {
    name: 'lower',
    signature: 'lower(text)',
    description: 'text in lower case (locale-independent Unicode rules; Entra: ToLower).',
    minArgs: 1,
    maxArgs: 1,
    apply: stringFn((s) => s.toLowerCase()),
  },
  {
    name: 'upper',
    signature: 'upper(text)',
    description: 'text in upper case (locale-independent Unicode rules; Entra: ToUpper).',
    minArgs: 1,
    maxArgs: 1,
    apply: stringFn((s) => s.toUpperCase()),
  },
  {
    name: 'properCase',
    signature: 'properCase(text)',
    description:
      'Each word capitalised, the rest lower case. A word starts after any character that is not a letter or digit, and after an apostrophe that follows a single letter (O\'Brien, but It\'s) (Entra: PCase).',
    minArgs: 1,
    maxArgs: 1,
    apply: stringFn(properCase),
  },
  {
    name: 'trim',
    signature: 'trim(text)',
    description: 'text without leading and trailing whitespace (any Unicode white space, including no-break space).',
    minArgs: 1,
    maxArgs: 1,
    apply: stringFn((s) => s.trim()),
  },
  {
    name: 'stripSpaces',
    signature: 'stripSpaces(text)',
    description: 'text with every whitespace character removed.',
    minArgs: 1,
    maxArgs: 1,
    apply: stringFn((s) => s.replace(/\s+/gu, '')),
  },
  {
    name: 'normalizeDiacritics',
    signature: 'normalizeDiacritics(text)',
    description:
      'Latin letters reduced to ASCII: accents removed (é→e), ł→l, ø→o, ß→ss, æ→ae, œ→oe, đ→d, þ→th, ı→i and similar. Other scripts are left as they are.',
    minArgs: 1,
    maxArgs: 1,
    apply: stringFn(normalizeDiacritics),
  },
  // Parts of strings
  {
    name: 'localPart',
    signature: 'localPart(address)',
    description: 'The part of an e-mail address or UPN before the last "@"; the whole text if there is no "@".',
    minArgs: 1,
    maxArgs: 1,
    apply: stringFn((s) => {
      const at = s.lastIndexOf('@');
      return at < 0 ? s : s.slice(0, at);
    }),
  },
  {
    name: 'domainPart',
    signature: 'domainPart(address)',
    description: 'The part of an e-mail address or UPN after the last "@"; null if there is no "@".',
    minArgs: 1,
    maxArgs: 1,
    apply: stringFn((s) => {
      const at = s.lastIndexOf('@');
      return at < 0 ? null : s.slice(at + 1);
    }),
  },
  {
    name: 'left',
    signature: 'left(text, count)',
    description: 'The first count characters of text (all of it if shorter).',
    minArgs: 2,
    maxArgs: 2,
    integerArgs: [{ index: 1, name: 'count', min: 0 }],
    apply: (args) => {
      const s = valueToString(args[0] ?? null);
      const n = intArg(args, 1, 0);
      return s === null || n === null ? null : codePointSlice(s, 0, n);
    },
  },
  {
    name: 'right',
    signature: 'right(text, count)',
    description: 'The last count characters of text (all of it if shorter).',
    minArgs: 2,
    maxArgs: 2,
    integerArgs: [{ index: 1, name: 'count', min: 0 }],
    apply: (args) => {
      const s = valueToString(args[0] ?? null);
      const n = intArg(args, 1, 0);
      if (s === null || n === null) return null;
      return n === 0 ? '' : codePointSlice(s, -n);
    },
  },
  {
    name: 'mid',
    signature: 'mid(text, start, length)',
    description: 'length characters of text from position start; the first character is at 1, as in Entra\'s Mid.',
    minArgs: 3,
    maxArgs: 3,
    integerArgs: [
      { index: 1, name: 'start', min: 1 },
      { index: 2, name: 'length', min: 0 },
    ],
    apply: (args) => {
      const s = valueToString(args[0] ?? null);
      const start = intArg(args, 1, 1);
      const length = intArg(args, 2, 0);
      return s === null || start === null || length === null ? null : codePointSlice(s, start - 1, start - 1 + length);
    },
  },
  {
    name: 'truncate',
    signature: 'truncate(text, maxLength)',
    description:
      'text cut to at most maxLength characters; when something was cut, trailing whitespace is removed too, so "John Smith" cut to 5 is "John".',
    minArgs: 2,
    maxArgs: 2,
    integerArgs: [{ index: 1, name: 'maxLength', min: 0 }],
    apply: (args) => {
      const s = valueToString(args[0] ?? null);
      const n = intArg(args, 1, 0);
      if (s === null || n === null) return null;
      const chars = Array.from(s);
      return chars.length <= n ? s : chars.slice(0, n).join('').trimEnd();
    },
  },
  {
    name: 'word',
    signature: 'word(text, number[, delimiters])',
    description:
      'The number-th word of text (the first is 1), words being separated by any of the characters in delimiters (by whitespace if omitted); empty words are skipped; null if there are fewer words.',
    minArgs: 2,
    maxArgs: 3,
    integerArgs: [{ index: 1, name: 'number', min: 1 }],
    apply: (args) => {
      const s = valueToString(args[0] ?? null);
      const n = intArg(args, 1, 1);
      return s === null || n === null ? null : word(s, n, valueToString(args[2] ?? null));
    },
  },
  {
    name: 'padLeft',
    signature: 'padLeft(text, length[, pad])',
    description: 'text with pad (default " ") repeated in front until it is length characters long; longer text is unchanged.',
    minArgs: 2,
    maxArgs: 3,
    integerArgs: [{ index: 1, name: 'length', min: 0 }],
    apply: (args) => {
      const s = valueToString(args[0] ?? null);
      const n = intArg(args, 1, 0);
      const pad = args.length > 2 ? (valueToString(args[2] ?? null) ?? '') : ' ';
      return s === null || n === null ? null : padLeft(s, n, pad);
    },
  },
  // Building strings
  {
    name: 'append',
    signature: 'append(text, suffix)',
    description: 'text followed by suffix; a null side counts as ""; null if both are empty.',
    minArgs: 2,
    maxArgs: 2,
    apply: (args) => concatValues(args, ''),
  },
  {
    name: 'concat',
    signature: 'concat(value1, value2, ...)',
    description: 'All values one after the other; null values count as ""; null if all are empty.',
    minArgs: 1,
    maxArgs: VARIADIC,
    apply: (args) => concatValues(args, ''),
  },
  {
    name: 'join',
    signature: 'join(separator, value1, value2, ...)',
    description: 'The non-empty values joined with separator; empty values (null or "") are skipped; null if none is left.',
    minArgs: 2,
    maxArgs: VARIADIC,
    apply: (args) => concatValues(args.slice(1), valueToString(args[0] ?? null) ?? ''),
  },
  {
    name: 'replace',
    signature: 'replace(text, find, replacement)',
    description: 'text with every occurrence of find (literal, case-sensitive) replaced; a null replacement counts as "".',
    minArgs: 3,
    maxArgs: 3,
    apply: (args) => {
      const s = valueToString(args[0] ?? null);
      if (s === null) return null;
      const find = valueToString(args[1] ?? null) ?? '';
      return replaceAllLiteral(s, find, valueToString(args[2] ?? null) ?? '');
    },
  },
  {
    name: 'regexReplace',
    signature: 'regexReplace(text, "pattern", replacement)',
    description:
      'text with every match of the regular expression (a string literal) replaced; the replacement may use $1..$99, $<name>, $& and $$. Only the first 4096 characters of text are used.',
    minArgs: 3,
    maxArgs: 3,
    regexArg: 1,
    regexFlags: 'gu',
    apply: (args, regex) => {
      const s = valueToString(args[0] ?? null);
      if (s === null || regex === null) return null;
      const input = clip(s, EXPRESSION_LIMITS.maxRegexInput);
      return regexReplaceAll(input, regex, valueToString(args[2] ?? null) ?? '');
    },
  },
  // Conversions
  {
    name: 'toString',
    signature: 'toString(value)',
    description: 'value as a string: booleans become "true"/"false", numbers their decimal form; null stays null (Entra: CStr).',
    minArgs: 1,
    maxArgs: 1,
    apply: (args) => valueToString(args[0] ?? null),
  },
  {
    name: 'toBoolean',
    signature: 'toBoolean(value)',
    description: 'true or false from a boolean, a number (0 is false) or "true"/"false"/"1"/"0" in any case; null for anything else (Entra: CBool).',
    minArgs: 1,
    maxArgs: 1,
    apply: (args) => valueToBoolean(args[0] ?? null),
  },
];

/** Provisioning-expression names an admin may bring from Entra ID, to suggest the idflow function. */
export const ENTRA_EQUIVALENTS: Readonly<Record<string, string>> = {
  tolower: 'lower',
  toupper: 'upper',
  pcase: 'properCase',
  isnullorempty: 'isEmpty',
  isnull: 'isEmpty',
  cstr: 'toString',
  cbool: 'toBoolean',
  instr: 'contains',
  substring: 'mid',
  substr: 'mid',
  concatenate: 'concat',
};
