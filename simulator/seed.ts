/**
 * The organisation the simulator starts with: generated deterministically from a seed, or read from a seed file.
 * User #i gets its attributes from a PRNG keyed by (seed, i), so a user keeps its id and name whatever the
 * organisation size; only the manager assignment and group sizes depend on the size.
 */
import { readFileSync } from 'node:fs';
import { TENANT_DOMAIN } from './certs';
import { asciiFold, guidFrom, GUID_RE, isPlainObject, Json, JsonObject, pick, prngFor } from './util';

export interface SeedUser {
  id: string;
  /** Graph properties (microsoft.graph.user), without id. */
  props: JsonObject;
  managerId: string | null;
}
export interface SeedGroup {
  id: string;
  props: JsonObject;
  /** Direct member object ids (users or groups), in order. */
  members: string[];
}
/** A service principal, device or org contact: a group member that is no person. */
export interface SeedOther {
  id: string;
  type: 'servicePrincipal' | 'device' | 'orgContact';
  displayName: string;
}
export interface SeedData {
  users: SeedUser[];
  groups: SeedGroup[];
  others?: SeedOther[];
}

export const DEPARTMENTS = ['Engineering', 'Finance', 'Sales', 'People', 'Support', 'Marketing'] as const;
type Dept = (typeof DEPARTMENTS)[number];
const DEPT_WEIGHTS: [Dept, number][] = [
  ['Engineering', 0.3],
  ['Sales', 0.2],
  ['Support', 0.15],
  ['Marketing', 0.12],
  ['Finance', 0.12],
  ['People', 0.11],
];
const TITLES: Record<Dept, { ic: string[]; lead: string; head: string }> = {
  Engineering: { ic: ['Software Engineer', 'Senior Software Engineer', 'Staff Engineer', 'Site Reliability Engineer', 'QA Engineer', 'Data Engineer'], lead: 'Engineering Manager', head: 'VP Engineering' },
  Finance: { ic: ['Accountant', 'Financial Analyst', 'Senior Accountant', 'Payroll Specialist'], lead: 'Finance Manager', head: 'Chief Financial Officer' },
  Sales: { ic: ['Account Executive', 'Sales Development Representative', 'Sales Engineer', 'Key Account Manager'], lead: 'Sales Manager', head: 'VP Sales' },
  People: { ic: ['HR Generalist', 'Recruiter', 'People Partner', 'Learning Specialist'], lead: 'People Manager', head: 'Chief People Officer' },
  Support: { ic: ['Support Engineer', 'Support Specialist', 'Technical Account Manager'], lead: 'Support Team Lead', head: 'Head of Support' },
  Marketing: { ic: ['Marketing Specialist', 'Content Writer', 'Product Marketing Manager', 'Designer'], lead: 'Marketing Manager', head: 'VP Marketing' },
};
interface Office {
  officeLocation: string;
  city: string;
  country: string;
  usageLocation: string;
  state: string | null;
  lang: string;
  phone: string;
}
const OFFICES: Office[] = [
  { officeLocation: 'London HQ', city: 'London', country: 'United Kingdom', usageLocation: 'GB', state: null, lang: 'en-GB', phone: '+44 20 7946 0' },
  { officeLocation: 'Berlin', city: 'Berlin', country: 'Germany', usageLocation: 'DE', state: null, lang: 'de-DE', phone: '+49 30 901820' },
  { officeLocation: 'Seattle', city: 'Seattle', country: 'United States', usageLocation: 'US', state: 'WA', lang: 'en-US', phone: '+1 206 555 0' },
  { officeLocation: 'New York', city: 'New York', country: 'United States', usageLocation: 'US', state: 'NY', lang: 'en-US', phone: '+1 212 555 0' },
  { officeLocation: 'Warsaw', city: 'Warszawa', country: 'Poland', usageLocation: 'PL', state: null, lang: 'pl-PL', phone: '+48 22 555 0' },
  { officeLocation: 'Madrid', city: 'Madrid', country: 'Spain', usageLocation: 'ES', state: null, lang: 'es-ES', phone: '+34 91 555 0' },
  { officeLocation: 'São Paulo', city: 'São Paulo', country: 'Brazil', usageLocation: 'BR', state: 'SP', lang: 'pt-BR', phone: '+55 11 5555 0' },
  { officeLocation: 'Tokyo', city: 'Tokyo', country: 'Japan', usageLocation: 'JP', state: null, lang: 'ja-JP', phone: '+81 3 5555 0' },
  { officeLocation: 'Remote', city: 'Dublin', country: 'Ireland', usageLocation: 'IE', state: null, lang: 'en-IE', phone: '+353 1 555 0' },
];
const GIVEN = [
  'James', 'Mary', 'John', 'Patricia', 'Robert', 'Jennifer', 'Michael', 'Linda', 'William', 'Elizabeth', 'David', 'Barbara',
  'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas', 'Sarah', 'Charles', 'Karen', 'Daniel', 'Emma', 'Olivia', 'Noah',
  'Zoë', 'José', 'Łukasz', 'Søren', 'Björn', 'Chloé', 'François', 'Renée', 'Jürgen', 'Ana-María', 'Mary-Jane', 'Siobhán',
  'Niamh', 'Seán', 'Dmitri', 'Aiko', 'Hiroshi', 'Mei', 'Wei', 'Priya', 'Arjun', 'Fatima', 'Omar', 'Olufemi', 'Chiamaka',
  'Kwame', 'Ingrid', 'Magnús', 'Þóra', 'Ólafur', 'Jean-Luc', 'Noémie', 'Đorđe', 'Çağla', 'İlkay', 'Ramón', 'Inés',
  'Małgorzata', 'Paweł', 'Zoltán', 'Agnieszka', 'João', 'Conceição', 'Yūki', 'Ximena', 'Nuño', 'Aoife', 'Bartłomiej',
];
const SURNAMES = [
  'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez', 'Wilson', 'Taylor',
  'Anderson', 'Thomas', 'Moore', 'Jackson', 'Lee', 'Harris', 'Clark', 'Lewis', "O'Brien", "O'Neill", "D'Angelo", "O'Connor",
  'Ångström', 'Łukasiewicz', 'Müller', 'Núñez', 'Álvarez', 'García-Márquez', 'Smith-Jones', 'van der Berg', 'de la Cruz',
  'Nguyen', 'Kim', 'Chen', 'Wang', 'Takahashi', 'Kowalski', 'Wiśniewski', 'Dvořák', 'Øster', 'Søndergaard',
  'Ó Súilleabháin', 'MacDonald', 'Fitzgerald', 'Papadopoulos', 'Oyelaran-Adeyemi', 'Venkataraghavan', 'Nakamura',
  'Schröder', 'Gonçalves', 'Ólafsdóttir', 'Jovanović', 'Yılmaz', 'Kuznetsova', 'Ferreira', 'Björklund', 'Lefèvre',
];
const LONG_GIVEN = ['Maximiliana Alexandrina', 'Bartholomew Montgomery', 'Anastasia Konstantina', 'Christopher Alexander'];
const LONG_SURNAMES = ['Wolfeschlegelsteinhausenbergerdorff', 'Konstantinopoulou-Papadimitriou', 'Venkatanarasimharajuvaripeta', 'Featherstonehaugh-Cholmondeley'];
const CODENAMES = ['Aurora', 'Borealis', 'Cascade', 'Dynamo', 'Ember', 'Fjord', 'Glacier', 'Harbor', 'Ion', 'Juniper', 'Kestrel', 'Lumen', 'Monsoon', 'Nebula', 'Orchid', 'Pulsar', 'Quartz', 'Ridge', 'Sierra', 'Tundra', 'Umbra', 'Vertex', 'Willow', 'Xenon', 'Yarrow', 'Zephyr'];

export const COMPANY = 'Contoso Ltd.';
const CONTRACTOR_COMPANY = 'Fabrikam Staffing';
const BASE_TIME = Date.UTC(2018, 0, 8, 9, 0, 0);

export interface GenerateOptions {
  users: number;
  seed: number;
  /** Total number of groups (at least the 10 named ones). */
  groups: number;
}

interface Draft {
  i: number;
  employeeId: string;
  givenName: string;
  surname: string;
  displayName?: string;
  department: Dept | 'Executive';
  jobTitle: string;
  office: Office;
  employeeType: 'Employee' | 'Contractor' | 'Intern';
  accountEnabled: boolean;
  hasMail: boolean;
  lead: boolean;
  role?: 'ceo' | 'head';
  rPlatform: number;
  rAdmin: number;
  rPick: number;
  hasMobile: boolean;
  hasPhone: boolean;
}

const FIXED: Partial<Draft>[] = [
  { givenName: 'Ada', surname: 'Lovelace', department: 'Engineering', jobTitle: 'Principal Engineer', office: OFFICES[0] },
  { givenName: 'Zoë', surname: "O'Brien-Łukasiewicz", department: 'Finance', jobTitle: 'Senior Accountant', office: OFFICES[4] },
  { givenName: 'José', surname: 'Álvarez', department: 'Sales', jobTitle: 'Account Executive', office: OFFICES[5] },
  { givenName: 'Grace', surname: 'Hopper', department: 'Executive', jobTitle: 'Chief Executive Officer', office: OFFICES[2], role: 'ceo' },
  { department: 'Engineering', role: 'head' },
  { department: 'Finance', role: 'head' },
  { department: 'Sales', role: 'head' },
  { department: 'People', role: 'head' },
  { department: 'Support', role: 'head' },
  { department: 'Marketing', role: 'head' },
  { givenName: 'John', surname: 'Smith', department: 'Support', jobTitle: 'Support Engineer', office: OFFICES[3] },
  { givenName: 'John', surname: 'Smith', department: 'Sales', jobTitle: 'Sales Engineer', office: OFFICES[2] },
  { givenName: 'Maximiliana Alexandrina', surname: 'Konstantinopoulou-Wolfeschlegelsteinhausenbergerdorff', department: 'Marketing', jobTitle: 'Content Writer', office: OFFICES[1] },
  { givenName: 'Anders', surname: 'Ångström', department: 'Engineering', jobTitle: 'Staff Engineer', office: OFFICES[8] },
  { givenName: 'Łukasz', surname: 'Wiśniewski', department: 'Support', jobTitle: 'Support Specialist', office: OFFICES[4] },
  { givenName: 'Siobhán', surname: "O'Neill", department: 'People', jobTitle: 'Recruiter', office: OFFICES[8] },
];

function weightedDept(r: number): Dept {
  let acc = 0;
  for (const [d, w] of DEPT_WEIGHTS) {
    acc += w;
    if (r < acc) return d;
  }
  return 'Engineering';
}

/** Mail nickname from a name: ASCII-folded, apostrophes/spaces dropped, at most 64 characters. */
export function nicknameFor(givenName: string, surname: string): string {
  const part = (s: string) =>
    asciiFold(s)
      .toLowerCase()
      .replace(/['’\s]+/g, '')
      .replace(/[^a-z0-9-]/g, '');
  return `${part(givenName)}.${part(surname)}`.slice(0, 64).replace(/[.-]+$/, '');
}

function draftUser(seed: number, i: number): Draft {
  const r = prngFor(`${seed}:user:${i}`);
  const long = r() < 0.005;
  const givenName = long ? pick(r, LONG_GIVEN) : pick(r, GIVEN);
  const surname = long ? `${pick(r, SURNAMES)}-${pick(r, LONG_SURNAMES)}` : pick(r, SURNAMES);
  const department = weightedDept(r());
  const office = pick(r, OFFICES);
  const lead = r() < 0.12;
  const te = r();
  const employeeType = te < 0.09 ? 'Contractor' : te < 0.12 ? 'Intern' : 'Employee';
  const jobTitle = lead ? TITLES[department].lead : pick(r, TITLES[department].ic);
  return {
    i,
    employeeId: `E${1001 + i}`,
    givenName,
    surname,
    department,
    jobTitle: employeeType === 'Intern' ? `${jobTitle} Intern` : jobTitle,
    office,
    employeeType: lead ? 'Employee' : employeeType,
    accountEnabled: r() >= 0.03,
    hasMail: r() >= 0.01,
    lead,
    rPlatform: r(),
    rAdmin: r(),
    rPick: r(),
    hasMobile: r() < 0.35,
    hasPhone: r() < 0.75,
  };
}

export function generateOrganisation(opts: GenerateOptions): SeedData {
  const n = Math.max(0, Math.floor(opts.users));
  const seed = opts.seed;
  const drafts: Draft[] = [];
  for (let i = 0; i < n; i++) {
    const d = draftUser(seed, i);
    const f = FIXED[i];
    if (f) {
      Object.assign(d, f, { lead: false, employeeType: 'Employee', accountEnabled: true, hasMail: true });
      if (f.role === 'head') {
        const dept = f.department as Dept;
        d.jobTitle = TITLES[dept].head;
      }
      if (i < 3) d.rPlatform = i === 0 ? 0 : 1; // Ada is in Platform Team; Zoë and José are not engineers anyway
    }
    drafts.push(d);
  }

  // Users.
  const upnTaken = new Set<string>();
  const users: SeedUser[] = drafts.map((d) => {
    const id = guidFrom(`${seed}:user:${d.i}`);
    let nick = nicknameFor(d.givenName, d.surname);
    if (upnTaken.has(nick)) {
      let k = 2;
      while (upnTaken.has(`${nick.slice(0, 62)}${k}`)) k++;
      nick = `${nick.slice(0, 62)}${k}`;
    }
    upnTaken.add(nick);
    const upn = `${nick}@${TENANT_DOMAIN}`;
    const r = prngFor(`${seed}:user:${d.i}:extra`);
    const created = new Date(BASE_TIME + d.i * 3 * 3600_000 + Math.floor(r() * 3600_000));
    const phoneTail = String(1000 + Math.floor(r() * 8999));
    const props: JsonObject = {
      accountEnabled: d.accountEnabled,
      businessPhones: d.hasPhone ? [`${d.office.phone}${phoneTail}`] : [],
      city: d.office.city,
      companyName: d.employeeType === 'Contractor' ? CONTRACTOR_COMPANY : COMPANY,
      country: d.office.country,
      createdDateTime: created.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      department: d.department,
      displayName: d.displayName ?? `${d.givenName} ${d.surname}`,
      employeeHireDate: new Date(created.getTime() - 14 * 86400_000).toISOString().replace(/T.*$/, 'T00:00:00Z'),
      employeeId: d.employeeId,
      employeeType: d.employeeType,
      givenName: d.givenName,
      jobTitle: d.jobTitle,
      mail: d.hasMail ? upn : null,
      mailNickname: nick,
      mobilePhone: d.hasMobile ? `+1 555 01${String(Math.floor(r() * 100)).padStart(2, '0')}` : null,
      officeLocation: d.office.officeLocation,
      preferredLanguage: d.office.lang,
      state: d.office.state,
      surname: d.surname,
      usageLocation: d.office.usageLocation,
      userPrincipalName: upn,
      userType: 'Member',
      proxyAddresses: d.hasMail ? [`SMTP:${upn}`] : [],
      otherMails: [],
      onPremisesSyncEnabled: null,
    };
    return { id, props, managerId: null };
  });

  // Managers: CEO <- department heads <- team leads <- everyone else.
  const ceo = drafts.find((d) => d.role === 'ceo');
  const heads = new Map<string, Draft>();
  for (const d of drafts) if (d.role === 'head') heads.set(d.department, d);
  const leads = new Map<string, Draft[]>();
  for (const d of drafts) if (d.lead && !d.role) (leads.get(d.department) ?? leads.set(d.department, []).get(d.department)!).push(d);
  for (const d of drafts) {
    const u = users[d.i]!;
    let mgr: Draft | undefined;
    if (d.role === 'ceo') mgr = undefined;
    else if (d.role === 'head') mgr = ceo;
    else if (d.lead || d.i < 3) mgr = heads.get(d.department) ?? ceo;
    else {
      const ls = leads.get(d.department) ?? [];
      mgr = ls.length > 0 ? ls[Math.floor(d.rPick * ls.length)] : (heads.get(d.department) ?? ceo);
    }
    u.managerId = mgr && mgr.i !== d.i ? users[mgr.i]!.id : null;
  }

  // Groups.
  const groups: SeedGroup[] = [];
  const gid = (name: string) => guidFrom(`${seed}:group:${name}`);
  const groupCreated = (k: number) => new Date(BASE_TIME - (40 - k) * 86400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const mkGroup = (k: number, displayName: string, description: string, members: string[], kind: 'security' | 'unified' = 'security', extra: JsonObject = {}): SeedGroup => {
    const slug = asciiFold(displayName).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
    const unified = kind === 'unified';
    return {
      id: gid(displayName),
      members,
      props: {
        classification: null,
        createdDateTime: groupCreated(k),
        description,
        displayName,
        groupTypes: unified ? ['Unified'] : [],
        isAssignableToRole: null,
        mail: unified ? `${slug}@${TENANT_DOMAIN}` : null,
        mailEnabled: unified,
        mailNickname: slug,
        securityEnabled: !unified,
        visibility: unified ? 'Public' : null,
        proxyAddresses: unified ? [`SMTP:${slug}@${TENANT_DOMAIN}`] : [],
        onPremisesSyncEnabled: null,
        ...extra,
      },
    };
  };
  const usersIn = (dept: string) => drafts.filter((d) => d.department === dept).map((d) => users[d.i]!.id);
  const engineers = drafts.filter((d) => d.department === 'Engineering');
  const platform = engineers.filter((d) => d.rPlatform < 0.12).map((d) => users[d.i]!.id);
  const adminPool = engineers.filter((d) => d.i !== 0).sort((a, b) => a.rAdmin - b.rAdmin);
  const adminCount = Math.min(25, Math.max(3, Math.round(engineers.length * 0.01)));
  const cloudAdmins = [...(drafts[0] ? [users[0]!.id] : []), ...adminPool.slice(0, adminCount).map((d) => users[d.i]!.id)];

  const deptGroups = DEPARTMENTS.map((dept, k) => {
    const members = usersIn(dept);
    if (dept === 'Engineering') members.unshift(gid('Platform Team'));
    return mkGroup(k + 1, dept, `Everyone in ${dept}`, members);
  });
  groups.push(mkGroup(0, 'All Staff', 'Everyone at Contoso (department groups, nested)', [...deptGroups.map((g) => g.id), ...(ceo ? [users[ceo.i]!.id] : [])], 'unified'));
  groups.push(...deptGroups);
  groups.push(mkGroup(7, 'Platform Team', 'Runs the internal platform (nested inside Engineering)', platform));
  // Groups hold more than people in Entra: an automation's service principal, a kiosk device, a
  // partner's contact. They are members that no target account belongs to.
  const others: SeedOther[] = [
    { id: guidFrom(`${seed}:other:deploy-bot`), type: 'servicePrincipal', displayName: 'Deploy Automation' },
    { id: guidFrom(`${seed}:other:kiosk`), type: 'device', displayName: 'CONTOSO-KIOSK-01' },
    { id: guidFrom(`${seed}:other:partner`), type: 'orgContact', displayName: 'Priya Raman (Fabrikam)' },
  ];
  groups.push(mkGroup(8, 'Cloud Admins', 'Administrators of the cloud accounts', cloudAdmins, 'security', { isAssignableToRole: true }));
  groups.push(mkGroup(9, 'Contractors', 'External contractors', drafts.filter((d) => d.employeeType === 'Contractor').map((d) => users[d.i]!.id)));

  const extra = Math.max(0, Math.floor(opts.groups) - groups.length);
  const extraIds: string[] = [];
  for (let k = 0; k < extra; k++) {
    const r = prngFor(`${seed}:group:extra:${k}`);
    const code = CODENAMES[k % CODENAMES.length]!;
    const name = k < CODENAMES.length ? `Project ${code}` : `Project ${code} ${Math.floor(k / CODENAMES.length) + 1}`;
    const size = n === 0 ? 0 : Math.min(n, 3 + Math.floor(r() * Math.max(5, Math.min(60, n * 0.05))));
    const members = new Set<string>();
    for (let j = 0; j < size * 3 && members.size < size; j++) members.add(users[Math.floor(r() * n)]!.id);
    const list = [...members];
    if (extraIds.length > 0 && r() < 0.2) list.push(extraIds[Math.floor(r() * extraIds.length)]!);
    const g = mkGroup(10 + k, name, `Project team ${code}`, list, r() < 0.3 ? 'unified' : 'security');
    extraIds.push(g.id);
    groups.push(g);
  }
  const add = (group: string, member: SeedOther) => groups.find((g) => g.props.displayName === group)?.members.push(member.id);
  add('Cloud Admins', others[0]!);
  add('Platform Team', others[1]!);
  add('Sales', others[2]!);
  return { users, groups, others };
}

// ---------------------------------------------------------------------------------------------
// Seed file
// ---------------------------------------------------------------------------------------------

function fail(msg: string): never {
  throw new Error(`seed file: ${msg}`);
}

/** Reads and validates a seed file (format documented in docs/simulator.md). */
export function loadSeedFile(file: string): SeedData {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    fail(`cannot read ${file}: ${(e as Error).message}`);
  }
  return seedFromJson(doc);
}

export function seedFromJson(doc: unknown): SeedData {
  if (!isPlainObject(doc)) fail('top level must be an object with "users" and "groups"');
  const rawUsers = doc.users ?? [];
  const rawGroups = doc.groups ?? [];
  if (!Array.isArray(rawUsers) || !Array.isArray(rawGroups)) fail('"users" and "groups" must be arrays');

  const users: SeedUser[] = [];
  const byEmployeeId = new Map<string, SeedUser>();
  const byUpn = new Map<string, SeedUser>();
  const byId = new Map<string, SeedUser>();
  const managerRefs: [SeedUser, string][] = [];
  rawUsers.forEach((raw: unknown, idx: number) => {
    if (!isPlainObject(raw)) fail(`users[${idx}] must be an object`);
    const { id, managerEmployeeId, ...rest } = raw;
    const upn = rest.userPrincipalName;
    const displayName = rest.displayName;
    if (typeof upn !== 'string' || !upn.includes('@')) fail(`users[${idx}].userPrincipalName is required (name@domain)`);
    if (typeof displayName !== 'string' || displayName === '') fail(`users[${idx}].displayName is required`);
    if (id !== undefined && (typeof id !== 'string' || !GUID_RE.test(id))) fail(`users[${idx}].id must be a GUID`);
    const employeeId = typeof rest.employeeId === 'string' ? rest.employeeId : null;
    const uid = (id as string | undefined)?.toLowerCase() ?? guidFrom(`seedfile:user:${employeeId ?? upn.toLowerCase()}`);
    const props: JsonObject = {
      accountEnabled: true,
      businessPhones: [],
      mailNickname: upn.split('@')[0]!,
      mail: upn,
      userType: 'Member',
      createdDateTime: new Date(BASE_TIME).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      ...(rest as JsonObject),
    };
    const u: SeedUser = { id: uid, props, managerId: null };
    if (byUpn.has(upn.toLowerCase())) fail(`users[${idx}]: duplicate userPrincipalName ${upn}`);
    if (byId.has(uid)) fail(`users[${idx}]: duplicate id ${uid}`);
    byUpn.set(upn.toLowerCase(), u);
    byId.set(uid, u);
    if (employeeId) byEmployeeId.set(employeeId, u);
    if (managerEmployeeId !== undefined && managerEmployeeId !== null) {
      if (typeof managerEmployeeId !== 'string') fail(`users[${idx}].managerEmployeeId must be a string`);
      managerRefs.push([u, managerEmployeeId]);
    }
    users.push(u);
  });
  for (const [u, ref] of managerRefs) {
    const m = byEmployeeId.get(ref);
    if (!m) fail(`manager employeeId ${ref} of ${String(u.props.userPrincipalName)} not found`);
    u.managerId = m.id;
  }

  const groups: SeedGroup[] = [];
  const groupByName = new Map<string, SeedGroup>();
  rawGroups.forEach((raw: unknown, idx: number) => {
    if (!isPlainObject(raw)) fail(`groups[${idx}] must be an object`);
    const { id, members: _members, ...rest } = raw;
    const displayName = rest.displayName;
    if (typeof displayName !== 'string' || displayName === '') fail(`groups[${idx}].displayName is required`);
    if (id !== undefined && (typeof id !== 'string' || !GUID_RE.test(id))) fail(`groups[${idx}].id must be a GUID`);
    if (groupByName.has(displayName)) fail(`groups[${idx}]: duplicate displayName ${displayName} (member references use names)`);
    const slug = asciiFold(displayName).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
    const g: SeedGroup = {
      id: (id as string | undefined)?.toLowerCase() ?? guidFrom(`seedfile:group:${displayName}`),
      members: [],
      props: {
        createdDateTime: new Date(BASE_TIME).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        description: null,
        groupTypes: [],
        mail: null,
        mailEnabled: false,
        mailNickname: slug,
        securityEnabled: true,
        ...(rest as JsonObject),
      },
    };
    groupByName.set(displayName, g);
    groups.push(g);
  });
  const groupIds = new Set(groups.map((g) => g.id));
  rawGroups.forEach((raw: unknown, idx: number) => {
    const g = groups[idx]!;
    const members = (raw as Record<string, unknown>).members ?? [];
    if (!Array.isArray(members)) fail(`groups[${idx}].members must be an array`);
    for (const ref of members as Json[]) {
      if (typeof ref !== 'string') fail(`groups[${idx}].members entries must be strings`);
      let target: string | undefined;
      if (ref.startsWith('group:')) target = groupByName.get(ref.slice(6))?.id;
      else if (GUID_RE.test(ref)) target = byId.has(ref.toLowerCase()) || groupIds.has(ref.toLowerCase()) ? ref.toLowerCase() : undefined;
      else if (ref.includes('@')) target = byUpn.get(ref.toLowerCase())?.id;
      else target = byEmployeeId.get(ref)?.id;
      if (!target) fail(`groups[${idx}] (${g.props.displayName as string}): member "${ref}" not found`);
      if (target === g.id) fail(`groups[${idx}]: a group cannot contain itself`);
      if (!g.members.includes(target)) g.members.push(target);
    }
  });
  return { users, groups };
}
