import fc from 'fast-check';
import { checkIamTags, IAM_USER_NAME_MAX, toIamName, toIamTagValue } from '../../targets/aws-iam/names';

const LEGAL = /^[\w+=,.@-]+$/;

describe('IAM names', () => {
  test('diacritics are folded and illegal characters replaced', () => {
    expect(toIamName("Zoë O'Brien-Łukasiewicz")).toBe('Zoe-O-Brien-Lukasiewicz');
    expect(toIamName('josé.álvarez')).toBe('jose.alvarez');
    expect(toIamName('Ångström, Åsa')).toBe('Angstrom,-Asa');
  });

  test('an 80-character name is cut to 64 with a stable suffix that tells long names apart', () => {
    const a = `${'maximilian-alexander-'.repeat(3)}von-und-zu-hohenzollern-sigmaringen`;
    const b = `${a.slice(0, -1)}X`;
    expect(a.length).toBeGreaterThan(80);
    const na = toIamName(a);
    expect(na).toHaveLength(IAM_USER_NAME_MAX);
    expect(na).toMatch(/-[0-9a-f]{8}$/);
    expect(toIamName(a)).toBe(na);
    expect(toIamName(b)).not.toBe(na);
    expect(na.slice(0, 40)).toBe(b.slice(0, 40));
  });

  test('a name with nothing usable is an error, not an empty account', () => {
    expect(() => toIamName('  ')).toThrow(/no characters usable/);
    expect(() => toIamName('日本')).toThrow(/no characters usable/);
  });

  test('every output is legal, at most 64 characters, and stable', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 120 }), (raw) => {
        let name: string;
        try {
          name = toIamName(raw);
        } catch {
          return;
        }
        expect(name).toMatch(LEGAL);
        expect(name.length).toBeLessThanOrEqual(IAM_USER_NAME_MAX);
        expect(toIamName(raw)).toBe(name);
      }),
    );
  });
});

describe('IAM tags', () => {
  test('limits are checked before any call', () => {
    const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']));
    expect(checkIamTags(many)).toEqual(['51 tags, more than IAM\'s 50']);
    expect(checkIamTags({ ['k'.repeat(129)]: 'v' })[0]).toMatch(/must be 1-128 characters/);
    expect(checkIamTags({ k: 'v'.repeat(257) })[0]).toMatch(/257 characters, more than 256/);
    expect(checkIamTags({ 'aws:owner': 'x' })[0]).toMatch(/reserved prefix/);
    expect(checkIamTags({ Department: 'Engineering', 'idflow:owner': 'idflow' })).toEqual([]);
  });

  test('tag values keep letters, including accented ones, and lose what IAM refuses', () => {
    expect(toIamTagValue("Zoë O'Brien")).toBe('Zoë O Brien');
    expect(checkIamTags({ v: toIamTagValue('a<b>;c"d') })).toEqual([]);
  });
});
