/** An error that becomes a Graph error body: {"error":{"code","message","innerError":{...}}}. */
export class GraphFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string, code = 'Request_BadRequest') => new GraphFailure(400, code, message);
export const unsupportedQuery = (message: string) => new GraphFailure(400, 'Request_UnsupportedQuery', message);
export const notFound = (id: string) =>
  new GraphFailure(404, 'Request_ResourceNotFound', `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`);
