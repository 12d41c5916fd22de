import { ScimConnector } from '../../targets/scim/connector';
import type { CreateAccountInput } from '../../targets/connector';
import { failure, type Proxy, type ProxyRequest, randomId, scimAll, scimBase, scimCleanup, scimRaw, scimTargetConfig, scimToken, startProxy } from './support';

/**
 * SCIM servers that break the RFC, as a quirk layer in front of scim2-server: one that drops
 * externalId, one that ignores filters, one whose members filter fails, one that pages past the end,
 * one without filtering. idflow must refuse clearly or cope, and never act on the wrong record.
 */

const prefix = `sq${randomId(3)}-`;
const instance = `scim-${randomId(3)}`;
const TOKEN_ENV = 'IDFLOW_SCIM_QUIRKS_TOKEN';
const GROUPS = { Engineering: `${prefix}eng`, Finance: `${prefix}fin` };
const u = (name: string) => `${prefix}${name}`;
const account = (name: string): CreateAccountInput => ({ userName: u(name), externalId: `src-${name}`, employeeId: `E-${name}`, enabled: true, attributes: {} });

interface Quirks {
  /** Stores users without externalId (drops it from creates and patches). */
  dropExternalId?: boolean;
  /** Answers every list as if no filter had been sent. */
  ignoreFilter?: boolean;
  /** 400 on any `members[...]` filter, as a server does once a group is empty. */
  memberFilter400?: boolean;
  /** Ignores startIndex (always the first page) and claims 10,000 results. */
  pastTheEnd?: boolean;
  /** Declares `filter.supported: false` in /ServiceProviderConfig. */
  noFiltering?: boolean;
  /** While it returns true, every group listing is empty (as on a fresh app). */
  hideGroups?: () => boolean;
  /** POST /Users answers with this existing record instead of creating one ("create or return existing"). */
  answerCreateWith?: Record<string, unknown>;
}

const scimError = (status: number, scimType: string, detail: string) => ({
  status,
  headers: { 'content-type': 'application/scim+json' },
  body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: String(status), scimType, detail }),
});

function quirky(q: Quirks): Promise<Proxy> {
  return startProxy(
    scimBase(),
    (req: ProxyRequest) => {
      const url = new URL(req.url, 'http://quirks');
      const filter = url.searchParams.get('filter') ?? '';
      if (q.memberFilter400 && filter.includes('members[')) return scimError(400, 'invalidFilter', 'filtering on members is not supported when a group has no members');
      if (q.hideGroups?.() && req.method === 'GET' && url.pathname.endsWith('/Groups')) return { status: 200, headers: { 'content-type': 'application/scim+json' }, body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 0, Resources: [] }) };
      if (q.answerCreateWith && req.method === 'POST' && url.pathname.endsWith('/Users')) return { status: 201, headers: { 'content-type': 'application/scim+json' }, body: JSON.stringify(q.answerCreateWith) };
      if (q.ignoreFilter) url.searchParams.delete('filter');
      if (q.pastTheEnd && req.method === 'GET') url.searchParams.delete('startIndex');
      if (q.dropExternalId && req.body && ['POST', 'PUT', 'PATCH'].includes(req.method)) {
        const body = JSON.parse(req.body) as Record<string, unknown> & { Operations?: { path?: string }[] };
        delete body.externalId;
        if (body.Operations) body.Operations = body.Operations.filter((op) => op.path !== 'externalId');
        req.body = JSON.stringify(body);
      }
      req.url = `${url.pathname}${url.search}`;
      return undefined;
    },
    (req, status, body) => {
      if (status !== 200) return body;
      const json = JSON.parse(body) as Record<string, unknown>;
      if (q.noFiltering && req.url.includes('/ServiceProviderConfig')) (json.filter as { supported: boolean }).supported = false;
      if (q.pastTheEnd && Array.isArray(json.Resources)) json.totalResults = 10_000;
      return JSON.stringify(json);
    },
  );
}

/** Runs `body` with a proxy in front of the server, and closes the proxy whatever happens. */
async function withProxy<T>(started: Promise<Proxy>, body: (proxy: Proxy) => Promise<T>): Promise<T> {
  const proxy = await started;
  try {
    return await body(proxy);
  } finally {
    await proxy.close();
  }
}

function connect(baseUrl = scimBase()): ScimConnector {
  return new ScimConnector('app', scimTargetConfig(baseUrl, TOKEN_ENV, GROUPS), instance, { env: { [TOKEN_ENV]: scimToken() } });
}

const usersNamed = async (userName: string) => scimAll('Users', `&filter=${encodeURIComponent(`userName eq "${userName}"`)}`);
const filters = (p: Proxy) => p.requests.map((r) => new URL(r.url, 'http://x').searchParams.get('filter')).filter((f): f is string => f !== null);

/** Ada in Engineering, Ben in Finance, through a well-behaved server. */
async function arrange(): Promise<void> {
  const direct = connect();
  await direct.createAccount(account('ada'));
  await direct.createAccount(account('ben'));
  await direct.createGroup(GROUPS.Engineering);
  await direct.createGroup(GROUPS.Finance);
  await direct.addMember(u('ada'), GROUPS.Engineering);
  await direct.addMember(u('ben'), GROUPS.Finance);
}

beforeEach(() => scimCleanup(prefix));
afterAll(() => scimCleanup(prefix));

test('a server that drops externalId: the create is refused as Target.config, non-retryable, and the user it made is deleted again', async () => {
  await withProxy(quirky({ dropExternalId: true }), async (proxy) => {
    const f = await failure(connect(proxy.url).createAccount(account('nomarker')));
    expect([f.type, f.nonRetryable]).toEqual(['Target.config', true]);
    expect(f.message).toMatch(/does not store externalId.*cannot mark ownership.*deleted again/);
    expect(await usersNamed(u('nomarker'))).toEqual([]);
  });
});

test('a User schema declaring externalId readOnly refuses the target before any write; an answer that is not a 201 and lacks the marker deletes nothing', async () => {
  await withProxy(startProxy(scimBase(), () => undefined, (req, status, body) => {
    if (status !== 200 || !req.url.includes('/Schemas/')) return body;
    const schema = JSON.parse(body) as { attributes: { name: string }[] };
    schema.attributes.push({ name: 'externalId', type: 'string', mutability: 'readOnly', returned: 'default' } as never);
    return JSON.stringify(schema);
  }), async (readOnly) => {
    const f = await failure(connect(readOnly.url).createAccount(account('ro')));
    expect([f.type, f.nonRetryable]).toEqual(['Target.config', true]);
    expect(f.message).toMatch(/makes externalId readOnly/);
    expect(readOnly.requests.filter((r) => r.method === 'POST')).toEqual([]);
  });
  // A create answered 200 (not 201) with a record without the marker: refused, and nothing is deleted.
  await withProxy(startProxy(scimBase(), (req) => {
    if (req.method === 'POST' && req.url.endsWith('/Users')) return { status: 200, headers: { 'content-type': 'application/scim+json' }, body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: u('kept') }) };
    return undefined;
  }), async (twoHundred) => {
    const f = await failure(connect(twoHundred.url).createAccount({ ...account('kept'), absentInRead: true }));
    expect([f.type, f.message]).toEqual(['Target.config', expect.stringMatching(/does not store externalId.*nothing was deleted/)]);
    expect(twoHundred.requests.filter((r) => r.method === 'DELETE')).toEqual([]);
  });
});

test("a server that answers a create with someone else's existing record: that record is left alone, and the create refused as not idflow's", async () => {
  const direct = connect();
  await direct.createAccount(account('ada'));
  const [ada] = await usersNamed(u('ada'));
  const foreign = { ...ada!, externalId: 'hr-system-42' };
  await scimRaw('PATCH', `/Users/${String(ada!.id)}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'externalId', value: 'hr-system-42' }] });
  await withProxy(quirky({ answerCreateWith: foreign }), async (proxy) => {
    const f = await failure(connect(proxy.url).createAccount({ ...account('ada2'), absentInRead: true }));
    expect([f.type, f.nonRetryable]).toEqual(['Target.notOwned', true]);
    expect(proxy.requests.filter((r) => r.method === 'DELETE')).toEqual([]);
    expect(await usersNamed(u('ada'))).toEqual([expect.objectContaining({ id: ada!.id, externalId: 'hr-system-42' })]);
  });
});

test('a server that ignores filters: a look-up takes only an exact match, never the first item, and a user is in only the groups that hold them', async () => {
  await arrange();
  await withProxy(quirky({ ignoreFilter: true }), async (proxy) => {
    const connector = connect(proxy.url);
    expect(await connector.findAccount(u('zoe'))).toBeNull();
    const ada = await connector.findAccount(u('ada'));
    expect(ada).toMatchObject({ userName: u('ada'), externalId: 'src-ada', groups: [GROUPS.Engineering] });
  });
});

test('a server declaring filter.supported false: lists are read whole and matched here, and no filter is sent', async () => {
  await arrange();
  await withProxy(quirky({ noFiltering: true }), async (proxy) => {
    const connector = connect(proxy.url);
    expect(await connector.findAccount(u('ben'))).toMatchObject({ externalId: 'src-ben', groups: [GROUPS.Finance] });
    expect(await connector.findAccount(u('zoe'))).toBeNull();
    expect(filters(proxy)).toEqual([]);
  });
});

test('a members filter answered 400 (as a server does once any group is empty): memberships are read from the groups instead', async () => {
  await arrange();
  await withProxy(quirky({ memberFilter400: true }), async (proxy) => {
    const connector = connect(proxy.url);
    expect((await connector.findAccount(u('ada')))!.groups).toEqual([GROUPS.Engineering]);
    expect((await connector.findAccount(u('ben')))!.groups).toEqual([GROUPS.Finance]);
    // The filter is asked about once, then not again.
    expect(filters(proxy).filter((f) => f.startsWith('members[')).length).toBe(1);
  });
});

test('an ignored members filter probed while the app has no groups yet is not taken as honoured: once groups exist, a user is still in only their own', async () => {
  let hidden = true;
  await withProxy(quirky({ ignoreFilter: true, hideGroups: () => hidden }), async (proxy) => {
    const connector = connect(proxy.url);
    await connect().createAccount(account('cal'));
    expect((await connector.findAccount(u('cal')))!.groups).toEqual([]);
    await arrange();
    hidden = false;
    expect((await connector.findAccount(u('cal')))!.groups).toEqual([]);
    expect((await connector.findAccount(u('ben')))!.groups).toEqual([GROUPS.Finance]);
  });
});

test("a user's groups come from the User's own groups attribute where the server fills it (RFC 7643 §4.1.2), direct entries only, with no members query; an empty one is not trusted", async () => {
  await arrange();
  await withProxy(startProxy(scimBase(), () => undefined, (req, status, body) => {
    if (status !== 200 || req.method !== 'GET' || !req.url.includes('/Users')) return body;
    const json = JSON.parse(body) as { Resources?: Record<string, unknown>[] } & Record<string, unknown>;
    for (const r of json.Resources ?? [json]) {
      if (r.userName === u('ada')) r.groups = [{ value: 'g-1', display: GROUPS.Engineering, type: 'direct' }, { value: 'g-2', display: GROUPS.Finance, type: 'indirect' }];
      if (r.userName === u('ben')) r.groups = [];
    }
    return JSON.stringify(json);
  }), async (proxy) => {
    const connector = connect(proxy.url);
    expect((await connector.findAccount(u('ada')))!.groups).toEqual([GROUPS.Engineering]);
    expect(filters(proxy).filter((f) => f.startsWith('members['))).toEqual([]);
    // Ben's empty list may be a server that never fills it: asked instead, and he is in Finance.
    expect((await connector.findAccount(u('ben')))!.groups).toEqual([GROUPS.Finance]);
  });
});

test('a server that pages past the end (ignores startIndex, claims 10,000 results): items are taken once each, and the listing stops when a page brings nothing new', async () => {
  await arrange();
  await withProxy(quirky({ pastTheEnd: true }), async (proxy) => {
    const connector = connect(proxy.url);
    const state = await connector.readState();
    const mine = state.accounts.filter((a) => a.userName.startsWith(prefix)).map((a) => a.userName);
    expect(mine).toEqual([u('ada'), u('ben')]);
    expect(new Set(state.accounts.map((a) => a.id)).size).toBe(state.accounts.length);
    expect(proxy.requests.filter((r) => r.method === 'GET' && r.url.includes('/Users')).length).toBeLessThanOrEqual(2);
  });
});
