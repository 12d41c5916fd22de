import { createHook } from 'node:async_hooks';

/**
 * IDFLOW_TEST_TRACE_TIMERS=1: remembers where every timer still pending was made, so a timer a test
 * left behind (which keeps the in-band run from exiting) can be named with its stack.
 */
const pending = new Map<number, { stack: string; resource: { hasRef?: () => boolean } }>();

export function traceTimers(): void {
  createHook({
    init(id, type, _trigger, resource) {
      if (type === 'Timeout') pending.set(id, { stack: new Error().stack!.split('\n').slice(2, 12).join('\n'), resource: resource as { hasRef?: () => boolean } });
    },
    destroy(id) {
      pending.delete(id);
    },
  }).enable();
}

export function pendingTimers(): string[] {
  return [...pending.values()].filter((t) => t.resource.hasRef?.() !== false).map((t) => t.stack);
}
