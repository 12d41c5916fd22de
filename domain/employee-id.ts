/**
 * Employee ids as HR and Entra ID write them. Graph's `eq` matches them without regard to case, so
 * idflow compares them that way too wherever it decides whose something is; which spelling is
 * the person's is Entra ID's.
 */
export function employeeIdKey(id: string): string {
  return id.toUpperCase();
}

export function sameEmployeeId(a: string, b: string): boolean {
  return employeeIdKey(a) === employeeIdKey(b);
}

/** The source's spelling of `given` when it differs only by case (e9020 for E9020), else null. */
export function caseOnlyMatch(given: string, found: readonly string[]): string | null {
  return found.find((f) => f !== given && sameEmployeeId(f, given)) ?? null;
}
