/**
 * The slice of the microsoft.graph.user / microsoft.graph.group model the simulator knows: property names and
 * kinds, default property sets, and which $filter operators each property supports by default ('D') or only as
 * an advanced query ('A') — see reference §1.2 (aad-advanced-queries).
 */
export type PropKind = 'string' | 'boolean' | 'number' | 'dateTime' | 'stringArray' | 'array' | 'object';
export type Cap = 'D' | 'A';
export interface FilterCaps {
  eq?: Cap;
  /** `in`: defaults to the `eq` capability. */
  in?: Cap;
  ne?: Cap;
  startswith?: Cap;
  endswith?: Cap;
  /** ge, gt, le, lt */
  range?: Cap;
  /** lambda `any(...)` on a collection; the inner operator is checked against eq/startswith/endswith below. */
  any?: Cap;
}
export interface PropDef {
  name: string;
  kind: PropKind;
  readOnly?: boolean;
  /** Only returned by a single-object GET; `$select` on a list answers 501. */
  singleOnly?: boolean;
  /** Never returned (write-only), e.g. passwordProfile. */
  writeOnly?: boolean;
  filter?: FilterCaps;
}
export type EntityType = 'user' | 'group';

const STD: FilterCaps = { eq: 'D', startswith: 'D', ne: 'A' };
const ADV: FilterCaps = { eq: 'A', startswith: 'A', ne: 'A' };
const BOOL: FilterCaps = { eq: 'D', ne: 'A' };

function defs(list: PropDef[]): Map<string, PropDef> {
  return new Map(list.map((p) => [p.name.toLowerCase(), p]));
}

export const USER_PROPS = defs([
  { name: 'id', kind: 'string', readOnly: true, filter: { eq: 'D', ne: 'A' } },
  { name: 'aboutMe', kind: 'string', singleOnly: true },
  { name: 'accountEnabled', kind: 'boolean', filter: BOOL },
  { name: 'ageGroup', kind: 'string', filter: ADV },
  { name: 'assignedLicenses', kind: 'array' },
  { name: 'assignedPlans', kind: 'array', readOnly: true },
  { name: 'birthday', kind: 'dateTime', singleOnly: true },
  { name: 'businessPhones', kind: 'stringArray', filter: { any: 'A', eq: 'A' } },
  { name: 'city', kind: 'string', filter: STD },
  { name: 'companyName', kind: 'string', filter: ADV },
  { name: 'consentProvidedForMinor', kind: 'string', filter: ADV },
  { name: 'country', kind: 'string', filter: STD },
  { name: 'createdDateTime', kind: 'dateTime', readOnly: true, filter: { eq: 'D', in: 'A', ne: 'A', range: 'D' } },
  { name: 'creationType', kind: 'string', readOnly: true, filter: ADV },
  { name: 'deletedDateTime', kind: 'dateTime', readOnly: true },
  { name: 'department', kind: 'string', filter: STD },
  { name: 'displayName', kind: 'string', filter: { eq: 'D', startswith: 'D', ne: 'A', range: 'A' } },
  { name: 'employeeHireDate', kind: 'dateTime', filter: { eq: 'A', ne: 'A', range: 'A' } },
  { name: 'employeeId', kind: 'string', filter: { eq: 'D', startswith: 'D', ne: 'A', range: 'A' } },
  { name: 'employeeLeaveDateTime', kind: 'dateTime', filter: { eq: 'A', ne: 'A', range: 'A' } },
  { name: 'employeeOrgData', kind: 'object' },
  { name: 'employeeType', kind: 'string', filter: ADV },
  { name: 'externalUserState', kind: 'string', readOnly: true, filter: ADV },
  { name: 'externalUserStateChangeDateTime', kind: 'dateTime', readOnly: true },
  { name: 'faxNumber', kind: 'string', filter: ADV },
  { name: 'givenName', kind: 'string', filter: STD },
  { name: 'hireDate', kind: 'dateTime', singleOnly: true },
  { name: 'identities', kind: 'array' },
  { name: 'imAddresses', kind: 'stringArray', readOnly: true, filter: { any: 'D', eq: 'D', startswith: 'D' } },
  { name: 'interests', kind: 'stringArray', singleOnly: true },
  { name: 'isResourceAccount', kind: 'boolean' },
  { name: 'jobTitle', kind: 'string', filter: { eq: 'D', startswith: 'A', ne: 'A' } },
  { name: 'lastPasswordChangeDateTime', kind: 'dateTime', readOnly: true },
  { name: 'legalAgeGroupClassification', kind: 'string', readOnly: true },
  { name: 'licenseAssignmentStates', kind: 'array', readOnly: true },
  { name: 'mail', kind: 'string', filter: { eq: 'D', startswith: 'D', endswith: 'A', ne: 'A' } },
  { name: 'mailboxSettings', kind: 'object', singleOnly: true },
  { name: 'mailNickname', kind: 'string', filter: STD },
  { name: 'mobilePhone', kind: 'string', filter: ADV },
  { name: 'mySite', kind: 'string', singleOnly: true },
  { name: 'officeLocation', kind: 'string', filter: ADV },
  { name: 'onPremisesDistinguishedName', kind: 'string', readOnly: true },
  { name: 'onPremisesDomainName', kind: 'string', readOnly: true },
  { name: 'onPremisesExtensionAttributes', kind: 'object' },
  { name: 'onPremisesImmutableId', kind: 'string', filter: ADV },
  { name: 'onPremisesLastSyncDateTime', kind: 'dateTime', readOnly: true, filter: { eq: 'D', range: 'D', ne: 'A' } },
  { name: 'onPremisesProvisioningErrors', kind: 'array', readOnly: true },
  { name: 'onPremisesSamAccountName', kind: 'string', readOnly: true, filter: ADV },
  { name: 'onPremisesSecurityIdentifier', kind: 'string', readOnly: true, filter: { eq: 'D', ne: 'A' } },
  { name: 'onPremisesSyncEnabled', kind: 'boolean', readOnly: true, filter: BOOL },
  { name: 'onPremisesUserPrincipalName', kind: 'string', readOnly: true },
  { name: 'otherMails', kind: 'stringArray', filter: { any: 'D', eq: 'D', startswith: 'D', endswith: 'A' } },
  { name: 'passwordPolicies', kind: 'string' },
  { name: 'passwordProfile', kind: 'object', writeOnly: true },
  { name: 'pastProjects', kind: 'stringArray', singleOnly: true },
  { name: 'postalCode', kind: 'string', filter: ADV },
  { name: 'preferredDataLocation', kind: 'string' },
  { name: 'preferredLanguage', kind: 'string', filter: ADV },
  { name: 'preferredName', kind: 'string', singleOnly: true },
  { name: 'provisionedPlans', kind: 'array', readOnly: true },
  { name: 'proxyAddresses', kind: 'stringArray', filter: { any: 'D', eq: 'D', startswith: 'D', endswith: 'A' } },
  { name: 'responsibilities', kind: 'stringArray', singleOnly: true },
  { name: 'schools', kind: 'stringArray', singleOnly: true },
  { name: 'securityIdentifier', kind: 'string', readOnly: true, filter: { eq: 'D', ne: 'A' } },
  { name: 'showInAddressList', kind: 'boolean', filter: { eq: 'A', ne: 'A' } },
  { name: 'signInSessionsValidFromDateTime', kind: 'dateTime', readOnly: true },
  { name: 'skills', kind: 'stringArray', singleOnly: true },
  { name: 'state', kind: 'string', filter: STD },
  { name: 'streetAddress', kind: 'string', filter: ADV },
  { name: 'surname', kind: 'string', filter: STD },
  { name: 'usageLocation', kind: 'string', filter: STD },
  { name: 'userPrincipalName', kind: 'string', filter: { eq: 'D', startswith: 'D', endswith: 'A', ne: 'A', range: 'D' } },
  { name: 'userType', kind: 'string', filter: BOOL },
]);

export const USER_DEFAULT_SELECT = [
  'businessPhones', 'displayName', 'givenName', 'jobTitle', 'mail', 'mobilePhone', 'officeLocation', 'preferredLanguage', 'surname', 'userPrincipalName', 'id',
];

export const GROUP_PROPS = defs([
  { name: 'id', kind: 'string', readOnly: true, filter: { eq: 'D', ne: 'A' } },
  { name: 'assignedLabels', kind: 'array' },
  { name: 'assignedLicenses', kind: 'array', readOnly: true },
  { name: 'classification', kind: 'string', filter: ADV },
  { name: 'createdDateTime', kind: 'dateTime', readOnly: true, filter: { eq: 'D', in: 'A', ne: 'A', range: 'D' } },
  { name: 'deletedDateTime', kind: 'dateTime', readOnly: true },
  { name: 'description', kind: 'string', filter: ADV },
  { name: 'displayName', kind: 'string', filter: { eq: 'D', startswith: 'D', ne: 'A', range: 'A' } },
  { name: 'expirationDateTime', kind: 'dateTime', readOnly: true, filter: { eq: 'D', range: 'D', ne: 'A' } },
  { name: 'groupTypes', kind: 'stringArray', filter: { any: 'D', eq: 'D' } },
  { name: 'isAssignableToRole', kind: 'boolean', filter: BOOL },
  { name: 'mail', kind: 'string', filter: { eq: 'D', startswith: 'D', endswith: 'A', ne: 'A' } },
  { name: 'mailEnabled', kind: 'boolean', filter: BOOL },
  { name: 'mailNickname', kind: 'string', filter: STD },
  { name: 'membershipRule', kind: 'string', filter: ADV },
  { name: 'membershipRuleProcessingState', kind: 'string', filter: { eq: 'D', ne: 'A' } },
  { name: 'onPremisesDomainName', kind: 'string', readOnly: true },
  { name: 'onPremisesLastSyncDateTime', kind: 'dateTime', readOnly: true, filter: { eq: 'D', range: 'D', ne: 'A' } },
  { name: 'onPremisesNetBiosName', kind: 'string', readOnly: true },
  { name: 'onPremisesProvisioningErrors', kind: 'array', readOnly: true },
  { name: 'onPremisesSamAccountName', kind: 'string', readOnly: true, filter: ADV },
  { name: 'onPremisesSecurityIdentifier', kind: 'string', readOnly: true, filter: { eq: 'D', ne: 'A' } },
  { name: 'onPremisesSyncEnabled', kind: 'boolean', readOnly: true, filter: BOOL },
  { name: 'preferredDataLocation', kind: 'string' },
  { name: 'preferredLanguage', kind: 'string', filter: ADV },
  { name: 'proxyAddresses', kind: 'stringArray', readOnly: true, filter: { any: 'D', eq: 'D', startswith: 'D', endswith: 'A' } },
  { name: 'renewedDateTime', kind: 'dateTime', readOnly: true, filter: { eq: 'D', range: 'D', ne: 'A' } },
  { name: 'securityEnabled', kind: 'boolean', filter: BOOL },
  { name: 'securityIdentifier', kind: 'string', readOnly: true, filter: { eq: 'D', ne: 'A' } },
  { name: 'serviceProvisioningErrors', kind: 'array', readOnly: true },
  { name: 'theme', kind: 'string' },
  { name: 'visibility', kind: 'string', filter: ADV },
  { name: 'allowExternalSenders', kind: 'boolean', singleOnly: true },
  { name: 'autoSubscribeNewMembers', kind: 'boolean', singleOnly: true },
  { name: 'hideFromAddressLists', kind: 'boolean', singleOnly: true },
  { name: 'hideFromOutlookClients', kind: 'boolean', singleOnly: true },
  { name: 'isSubscribedByMail', kind: 'boolean', singleOnly: true },
  { name: 'unseenCount', kind: 'number', singleOnly: true },
]);

export const GROUP_DEFAULT_SELECT = [
  'id', 'deletedDateTime', 'classification', 'createdDateTime', 'description', 'displayName', 'expirationDateTime',
  'groupTypes', 'isAssignableToRole', 'mail', 'mailEnabled', 'mailNickname', 'membershipRule', 'membershipRuleProcessingState',
  'onPremisesDomainName', 'onPremisesLastSyncDateTime', 'onPremisesNetBiosName', 'onPremisesSamAccountName',
  'onPremisesSecurityIdentifier', 'onPremisesSyncEnabled', 'preferredDataLocation', 'preferredLanguage', 'proxyAddresses',
  'renewedDateTime', 'securityEnabled', 'securityIdentifier', 'theme',
  'visibility', 'onPremisesProvisioningErrors', 'serviceProvisioningErrors',
];

export function propsOf(type: EntityType): Map<string, PropDef> {
  return type === 'user' ? USER_PROPS : GROUP_PROPS;
}

/** `$orderby` without advanced query: user displayName/userPrincipalName, group displayName. */
export const DEFAULT_ORDERBY: Record<EntityType, string[]> = { user: ['displayName', 'userPrincipalName'], group: ['displayName'] };

export function emptyValue(def: PropDef): null | [] {
  return def.kind === 'stringArray' || def.kind === 'array' ? [] : null;
}
