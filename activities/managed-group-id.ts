import { createHash } from 'node:crypto';

/**
 * The workflow id of a managed group's creation: one per target and group, so Temporal lets only one
 * run at a time. Workflow ids are stored in plaintext, and a group's name says who may reach what, so
 * the id carries a digest of it, never the name (payloads, where the name travels, are encrypted).
 */
export function managedGroupWorkflowId(target: string, group: string): string {
  return `group-${target}-${createHash('sha256').update(`${target}\n${group}`).digest('hex').slice(0, 32)}`;
}
