import { normalizeDiacritics } from '../../domain/expression-functions';
import { AccountNameError } from '../../domain/mapping';
import { fnv1a32 } from '../../domain/text';

/**
 * AWS IAM naming and tagging rules, checked before any call is made.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
 */
export const IAM_USER_NAME_MAX = 64;
export const IAM_GROUP_NAME_MAX = 128;
export const IAM_MAX_TAGS = 50;
export const IAM_TAG_KEY_MAX = 128;
export const IAM_TAG_VALUE_MAX = 256;
export const IAM_MAX_GROUPS_PER_USER = 10;

const ILLEGAL = /[^\w+=,.@-]+/g;
const LEGAL_NAME = /^[\w+=,.@-]+$/;
const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

export class IamNameError extends AccountNameError {
  constructor(message: string) {
    super(message);
    this.name = 'IamNameError';
  }
}

/**
 * A deterministic legal IAM name: diacritics folded, illegal characters replaced, and names over the
 * limit cut with a stable fingerprint of the whole name so two long names never collapse into one.
 */
export function toIamName(raw: string, max = IAM_USER_NAME_MAX): string {
  const cleaned = normalizeDiacritics(raw.trim())
    .replace(ILLEGAL, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
  if (cleaned === '') throw new IamNameError(`"${raw}" has no characters usable in an IAM name`);
  if (cleaned.length <= max) return cleaned;
  const suffix = `-${fnv1a32(cleaned)}`;
  return cleaned.slice(0, max - suffix.length).replace(/[-.]+$/, '') + suffix;
}

/** Whether IAM takes this name as it is (users up to 64 characters, groups up to 128). */
export function isIamName(name: string, max: number): boolean {
  return name.length <= max && LEGAL_NAME.test(name);
}

/** IAM names are unique regardless of case. */
export function iamNameKey(name: string): string {
  return name.toLowerCase();
}

/** Every problem with a tag set, or none. */
export function checkIamTags(tags: Record<string, string>): string[] {
  const problems: string[] = [];
  const entries = Object.entries(tags);
  if (entries.length > IAM_MAX_TAGS) problems.push(`${entries.length} tags, more than IAM's ${IAM_MAX_TAGS}`);
  for (const [key, value] of entries) {
    if (key.length === 0 || key.length > IAM_TAG_KEY_MAX) problems.push(`tag key "${key}" must be 1-${IAM_TAG_KEY_MAX} characters`);
    if (key.toLowerCase().startsWith('aws:')) problems.push(`tag key "${key}" uses the reserved prefix aws:`);
    if (!TAG_CHARS.test(key)) problems.push(`tag key "${key}" has characters IAM does not allow`);
    if (value.length > IAM_TAG_VALUE_MAX) problems.push(`tag "${key}" value is ${value.length} characters, more than ${IAM_TAG_VALUE_MAX}`);
    if (!TAG_CHARS.test(value)) problems.push(`tag "${key}" value has characters IAM does not allow`);
  }
  return problems;
}

/** Makes a value acceptable as an IAM tag value without losing meaning: illegal characters become spaces. */
export function toIamTagValue(value: string): string {
  return value.replace(/[^\p{L}\p{Z}\p{N}_.:/=+\-@]/gu, ' ').slice(0, IAM_TAG_VALUE_MAX);
}
