import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Loaded by path (DataConverter.failureConverterPath) in the worker, its workflow sandbox and clients.
 * Failure messages and stack traces go into `encodedAttributes`, a payload the codec encrypts;
 * the stored failure message becomes "Encoded failure". Workflow-safe: imports nothing but
 * @temporalio/common.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
