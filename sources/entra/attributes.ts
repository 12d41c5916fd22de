import type { SourceCatalogue } from '../../domain/mapping';

/**
 * The Entra ID user properties a mapping or scope filter may use. They are all selectable on
 * `GET /v1.0/users`, so the Graph `$select` can be derived from what the config references.
 */
export const SOURCE_USER_ATTRIBUTES: ReadonlySet<string> = new Set([
  'id',
  'employeeId',
  'userPrincipalName',
  'accountEnabled',
  'displayName',
  'givenName',
  'surname',
  'mail',
  'mailNickname',
  'department',
  'jobTitle',
  'companyName',
  'officeLocation',
  'city',
  'country',
  'usageLocation',
  'employeeType',
  'preferredLanguage',
  'mobilePhone',
  'createdDateTime',
]);

/** Always fetched: identity, correlation and lifecycle need them whatever the mappings say. */
export const CORE_USER_ATTRIBUTES = ['id', 'employeeId', 'userPrincipalName', 'accountEnabled'] as const;

export const ENTRA_CATALOGUE: SourceCatalogue = { attributes: SOURCE_USER_ATTRIBUTES, core: CORE_USER_ATTRIBUTES };
