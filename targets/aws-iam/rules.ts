import type { TargetRules } from '../../domain/mapping';
import { checkIamTags, IAM_GROUP_NAME_MAX, isIamName, toIamName, toIamTagValue } from './names';

/** IAM's rules for what a mapping may write: attributes are tags, names follow IAM's character set and limits. */
export const iamRules: TargetRules = {
  attributeProblems(names) {
    const problems: { attribute: string; message: string }[] = [];
    for (const name of names) {
      if (/^(idflow|aws):/i.test(name)) problems.push({ attribute: name, message: `tag key "${name}" is reserved (idflow: for idflow's own markers, aws: for AWS)` });
      else for (const message of checkIamTags({ [name]: '' })) problems.push({ attribute: name, message });
    }
    return problems;
  },
  groupNameProblem(group) {
    if (isIamName(group, IAM_GROUP_NAME_MAX)) return null;
    if (group.length > IAM_GROUP_NAME_MAX) return `IAM group name "${group.slice(0, 40)}…" is longer than ${IAM_GROUP_NAME_MAX} characters`;
    return `"${group}" is not a legal IAM group name: only letters, digits and + = , . @ _ - are allowed`;
  },
  accountName: (derived) => toIamName(derived),
  attributeValue: (value) => toIamTagValue(value),
};
