/**
 * The shapes that cross the boundary between the source, the pure domain code and the targets.
 * They are also what lands in Temporal history, so they carry only the attributes a mapping asked for.
 */

/** An attribute value as idflow handles it after reading the source. */
export type AttributeValue = string | boolean | number | null;
export type Attributes = Record<string, AttributeValue>;

/** A group as the source knows it. */
export interface SourceGroupRef {
  id: string;
  displayName: string;
}

/**
 * One person as a source reads them: fields every source has, the selected attributes under the
 * source's own names, and their transitive groups.
 */
export interface SourceIdentity {
  /** The source's stable id of the person (Entra ID's object id); becomes the target's marker. */
  id: string;
  employeeId: string;
  /** The name the person signs in with at the source (Entra ID's userPrincipalName), for people reading plans and audits. */
  login: string;
  /** Whether the source lets the person sign in (Entra ID's accountEnabled). */
  enabled: boolean;
  /** Only the attributes the config's mappings reference (attribute minimisation), named as the source names them. */
  attributes: Attributes;
  /** Transitive group memberships (nested groups flattened). */
  groups: SourceGroupRef[];
}

/** What a target account should look like, after scoping and mapping. */
export interface DesiredAccount {
  /** The name the account has in the target (IAM user name, SCIM userName). */
  userName: string;
  /** The source identity's id: how idflow recognises the account as this person's. */
  externalId: string;
  employeeId: string;
  enabled: boolean;
  /** Mapped attributes; for IAM these are tags, for SCIM schema attributes. */
  attributes: Record<string, string>;
  /** Attributes that are only set when the account is created. */
  createOnlyAttributes: string[];
  /** Every attribute the mapping names, set or not: an empty one is removed from the target. */
  managedAttributes: string[];
  /** Target group names. */
  groups: string[];
}

/** What a target says an account looks like now. */
export interface ActualAccount {
  /** The target's own id (IAM UserId, SCIM id). */
  id: string;
  userName: string;
  externalId: string | null;
  employeeId: string | null;
  enabled: boolean;
  attributes: Record<string, string>;
  groups: string[];
  /** True only when idflow's ownership marker is on the account. */
  owned: boolean;
}

/**
 * How a write addresses an account: by its current name in the target, and by the identity it must
 * belong to. A connector refuses the write when the account's marker names anyone else.
 */
export interface AccountRef {
  userName: string;
  /** The source identity's id, as in the account's marker (IAM `idflow:external-id`, SCIM `externalId`). */
  externalId: string;
}

export interface ActualGroup {
  id: string;
  name: string;
  owned: boolean;
}
