import type { TargetRules } from '../../domain/mapping';
import { checkScimAttributePaths } from './schema';

/** SCIM's rules: attributes are RFC 7643 paths in their canonical spelling; names and values are the app's to judge. */
export const scimRules: TargetRules = {
  attributeProblems: (names) => names.flatMap((attribute) => checkScimAttributePaths([attribute]).map((message) => ({ attribute, message }))),
  groupNameProblem: () => null,
  accountName: (derived) => derived,
  attributeValue: (value) => value,
};
