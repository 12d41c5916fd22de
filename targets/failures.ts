import { ApplicationFailure } from '@temporalio/common';
import { TARGET_FAILURE } from './connector';

/** An account a connector was asked to work on is not in the target (any more). */
export class AccountGoneError extends Error {
  constructor(target: string, userName: string) {
    super(`${target} user ${userName} does not exist`);
    this.name = 'AccountGoneError';
  }
}

/** For writes that need the account: its absence is retryable, since the retry plans again. */
export function goneAsNotFound(err: unknown): never {
  if (err instanceof AccountGoneError) throw ApplicationFailure.retryable(err.message, TARGET_FAILURE.notFound);
  throw err;
}

/** For reads: an account that is gone is no account. */
export function goneAsNull(err: unknown): null {
  if (err instanceof AccountGoneError) return null;
  throw err;
}
