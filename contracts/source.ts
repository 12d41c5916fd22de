/**
 * What crosses workflow history about a source: an opaque cursor and the changes it yields. Only the
 * source that issued a cursor reads inside it (Entra ID's is its two delta links); everything else
 * stores it and hands it back.
 */
export type SourceCursor = Readonly<Record<string, string>>;

/** A person the source says changed since the cursor: who, never what (their workflow re-reads them). */
export interface SourceChange {
  /** The source's stable id of the person. */
  id: string;
  employeeId?: string;
  /** `changed`: removed but restorable (Entra ID's soft delete); `deleted`: gone for good. */
  removed?: 'changed' | 'deleted';
}
