import type { SourceIdentity } from './types';

/**
 * A person as a workflow history may hold them. Histories recorded before the person's fields were
 * source-neutral carry Entra ID's names (userPrincipalName, accountEnabled), and a workflow started
 * then still hands such a person to today's activities.
 */
export type RecordedPerson = Omit<SourceIdentity, 'login' | 'enabled'> & {
  login?: string;
  enabled?: boolean;
  userPrincipalName?: string;
  accountEnabled?: boolean;
};

/** The person with the source-neutral fields, whichever shape the history recorded. */
export function readPerson(recorded: RecordedPerson): SourceIdentity {
  const { userPrincipalName, accountEnabled, login, enabled, ...rest } = recorded;
  const legacy = login === undefined && enabled === undefined;
  return {
    ...rest,
    login: login ?? userPrincipalName ?? '',
    enabled: enabled ?? accountEnabled ?? false,
    // The old shape kept these two beside the attributes, and mappings read them as attributes.
    attributes: legacy ? { ...rest.attributes, userPrincipalName: userPrincipalName ?? '', accountEnabled: accountEnabled ?? false } : rest.attributes,
  };
}
