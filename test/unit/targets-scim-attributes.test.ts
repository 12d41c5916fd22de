import {
  checkScimAttributePaths,
  formatScimPath,
  fromScimUser,
  parseScimPath,
  SCIM_ENTERPRISE_USER as ENT,
  scimPatchOperations,
  toScimUser,
} from '../../targets/scim/schema';
import { retryAfterMs, scimFailure } from '../../targets/scim/errors';

describe('SCIM attribute paths', () => {
  test.each([
    ['displayName', { kind: 'simple', attr: 'displayName' }],
    ['name.givenName', { kind: 'name', sub: 'givenName' }],
    ['emails[type eq "work"].value', { kind: 'multi', attr: 'emails', entry: { type: 'work' }, sub: 'value' }],
    ['emails[primary eq true].value', { kind: 'multi', attr: 'emails', entry: { primary: true }, sub: 'value' }],
    ['emails[not(type pr)].value', { kind: 'multi', attr: 'emails', entry: { untyped: true }, sub: 'value' }],
    ['addresses[type eq "home"].postalCode', { kind: 'multi', attr: 'addresses', entry: { type: 'home' }, sub: 'postalCode' }],
    [`${ENT}:department`, { kind: 'enterprise', attr: 'department' }],
  ])('%s parses and formats back to itself', (path, parsed) => {
    expect(parseScimPath(path)).toEqual(parsed);
    expect(formatScimPath(parseScimPath(path)!)).toBe(path);
  });

  test('names are case-insensitive when parsed, but config must use the canonical spelling', () => {
    expect(parseScimPath('Name.GivenName')).toEqual({ kind: 'name', sub: 'givenName' });
    expect(checkScimAttributePaths(['Name.GivenName', `${ENT.toLowerCase()}:Department`, 'EMAILS[type eq "work"].VALUE'])).toEqual([
      '"Name.GivenName" must be written "name.givenName"',
      `"${ENT.toLowerCase()}:Department" must be written "${ENT}:department"`,
      '"EMAILS[type eq "work"].VALUE" must be written "emails[type eq "work"].value"',
    ]);
  });

  test.each(['userName', 'externalId', 'active', 'name', 'emails', 'emails.value', 'emails[primary eq false].value', 'addresses[type eq "work"].value', `${ENT}:manager`, 'urn:example:custom:thing', 'password'])('%s is not supported', (path) => {
    expect(parseScimPath(path)).toBeNull();
    expect(checkScimAttributePaths([path])).toHaveLength(1);
  });
});

describe('the primary entry of a multi-valued attribute', () => {
  const PRIMARY = 'emails[primary eq true].value';
  test('is written as an entry marked primary, and read back from whichever entry is primary, typed or not', () => {
    expect(toScimUser('ada', 'm', true, { [PRIMARY]: 'ada@example.com' }).emails).toEqual([{ primary: true, value: 'ada@example.com' }]);
    const read = fromScimUser({ emails: [{ type: 'home', value: 'a@home.example' }, { type: 'work', primary: true, value: 'ada@example.com' }] });
    expect(read[PRIMARY]).toBe('ada@example.com');
    expect(read['emails[type eq "work"].value']).toBe('ada@example.com');
  });

  test('is changed in place with its value filter, added when missing, and removed as an entry', () => {
    const has = { emails: [{ primary: true, value: 'old@example.com' }] };
    expect(scimPatchOperations(has, [{ attribute: PRIMARY, from: 'old@example.com', to: 'new@example.com' }])).toEqual([{ op: 'replace', path: PRIMARY, value: 'new@example.com' }]);
    expect(scimPatchOperations({ emails: [{ type: 'home', value: 'h@example.com' }] }, [{ attribute: PRIMARY, from: null, to: 'p@example.com' }])).toEqual([{ op: 'add', path: 'emails', value: [{ primary: true, value: 'p@example.com' }] }]);
    expect(scimPatchOperations(has, [{ attribute: PRIMARY, from: 'old@example.com', to: null }])).toEqual([{ op: 'remove', path: 'emails[primary eq true]' }]);
  });
});

describe('the entry of a multi-valued attribute without a type', () => {
  const UNTYPED = 'emails[not(type pr)].value';
  test('is written without a type, read from the entry that has none, and changed or removed through its filter', () => {
    expect(toScimUser('ada', 'm', true, { [UNTYPED]: 'ada@example.com' }).emails).toEqual([{ value: 'ada@example.com' }]);
    expect(fromScimUser({ emails: [{ type: 'work', value: 'w@example.com' }, { value: 'u@example.com' }] })[UNTYPED]).toBe('u@example.com');
    const has = { emails: [{ value: 'old@example.com' }, { type: 'work', value: 'w@example.com' }] };
    expect(scimPatchOperations(has, [{ attribute: UNTYPED, from: 'old@example.com', to: 'new@example.com' }])).toEqual([{ op: 'replace', path: UNTYPED, value: 'new@example.com' }]);
    expect(scimPatchOperations(has, [{ attribute: UNTYPED, from: 'old@example.com', to: null }])).toEqual([{ op: 'remove', path: 'emails[not(type pr)]' }]);
    expect(scimPatchOperations({ emails: [{ type: 'work', value: 'w@example.com' }] }, [{ attribute: UNTYPED, from: null, to: 'n@example.com' }])).toEqual([{ op: 'add', path: 'emails', value: [{ value: 'n@example.com' }] }]);
  });
});

describe('SCIM resource mapping', () => {
  const attrs = {
    displayName: 'Ada',
    'name.givenName': 'Ada',
    'name.familyName': 'Lovelace',
    'emails[type eq "work"].value': 'ada@example.com',
    'addresses[type eq "work"].locality': 'London',
    'addresses[type eq "work"].country': 'GB',
    [`${ENT}:employeeNumber`]: 'E1',
  };

  test('toScimUser builds the core resource and adds the enterprise schema only when used', () => {
    expect(toScimUser('ada', 'idflow:x:1', true, attrs)).toEqual({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENT],
      userName: 'ada',
      externalId: 'idflow:x:1',
      active: true,
      displayName: 'Ada',
      name: { givenName: 'Ada', familyName: 'Lovelace' },
      emails: [{ type: 'work', value: 'ada@example.com' }],
      addresses: [{ type: 'work', locality: 'London', country: 'GB' }],
      [ENT]: { employeeNumber: 'E1' },
    });
    expect(toScimUser('b', 'e', false, { title: 't' }).schemas).toEqual(['urn:ietf:params:scim:schemas:core:2.0:User']);
  });

  test('fromScimUser inverts toScimUser, and reads attribute names regardless of case', () => {
    expect(fromScimUser(toScimUser('ada', 'e', true, attrs))).toEqual(attrs);
    expect(fromScimUser({ DisplayName: 'X', Emails: [{ Type: 'Work', Value: 'x@y' }, { value: 'untyped@y' }], active: false })).toEqual({ displayName: 'X', 'emails[type eq "Work"].value': 'x@y', 'emails[not(type pr)].value': 'untyped@y' });
  });

  test('patch operations: only real changes, replace vs add vs remove as the resource requires', () => {
    const resource = toScimUser('ada', 'e', true, attrs);
    expect(
      scimPatchOperations(resource, [
        { attribute: 'displayName', from: 'Ada', to: 'Ada' }, // no real change
        { attribute: 'name.givenName', from: 'Ada', to: 'Augusta' },
        { attribute: 'title', from: null, to: 'Countess' },
        { attribute: 'emails[type eq "work"].value', from: 'ada@example.com', to: 'ada@new.example' },
        { attribute: 'emails[type eq "home"].value', from: null, to: 'ada@home.example' },
        { attribute: 'phoneNumbers[type eq "work"].value', from: null, to: '1' },
        { attribute: 'addresses[type eq "work"].country', from: 'GB', to: null },
        { attribute: 'addresses[type eq "home"].locality', from: null, to: 'Ockham' },
        { attribute: 'addresses[type eq "home"].country', from: null, to: 'GB' },
        { attribute: `${ENT}:employeeNumber`, from: 'E1', to: null },
        { attribute: `${ENT}:department`, from: 'gone', to: null }, // not there: nothing to remove
      ]),
    ).toEqual([
      { op: 'replace', path: 'name.givenName', value: 'Augusta' },
      { op: 'replace', path: 'title', value: 'Countess' },
      { op: 'replace', path: 'emails[type eq "work"].value', value: 'ada@new.example' },
      { op: 'remove', path: 'addresses[type eq "work"].country' },
      { op: 'remove', path: `${ENT}:employeeNumber` },
      { op: 'add', path: 'emails', value: [{ type: 'home', value: 'ada@home.example' }] },
      { op: 'add', path: 'phoneNumbers', value: [{ type: 'work', value: '1' }] },
      { op: 'add', path: 'addresses', value: [{ type: 'home', locality: 'Ockham', country: 'GB' }] },
    ]);
  });

  test('removing the last field of a typed entry removes the entry', () => {
    const resource = toScimUser('ada', 'e', true, { 'emails[type eq "work"].value': 'a@b' });
    expect(scimPatchOperations(resource, [{ attribute: 'emails[type eq "work"].value', from: 'a@b', to: null }])).toEqual([{ op: 'remove', path: 'emails[type eq "work"]' }]);
  });
});

describe('SCIM HTTP helpers', () => {
  test('Retry-After in seconds or as an HTTP date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(null)).toBeNull();
    expect(retryAfterMs('soon')).toBeNull();
    const now = Date.parse('2026-11-01T00:00:00Z');
    expect(retryAfterMs('Sun, 01 Nov 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(retryAfterMs('Sun, 01 Nov 2026 00:00:00 GMT', now + 5000)).toBe(0);
  });

  test('failures: 4xx and 501 non-retryable, 408/429/5xx retryable, type SCIM.<status>', () => {
    const body = { schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '409', scimType: 'uniqueness', detail: 'taken' };
    expect(scimFailure(409, body, 'POST /Users')).toMatchObject({ type: 'SCIM.409', nonRetryable: true, message: 'SCIM POST /Users failed: HTTP 409 (uniqueness): taken', details: [{ status: 409, scimType: 'uniqueness', detail: 'taken' }] });
    for (const s of [408, 429, 500, 502, 503]) expect(scimFailure(s, null, 'GET /Users').nonRetryable).toBe(false);
    for (const s of [400, 401, 403, 404, 412, 413, 501]) expect(scimFailure(s, null, 'GET /Users').nonRetryable).toBe(true);
    expect(scimFailure(500, 'x'.repeat(1000), 'GET /Users').message.length).toBeLessThan(400);
  });
});
