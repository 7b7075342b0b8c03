/** An error answered by the Shared Signals endpoints as `{ error, error_description }`. */
export class SsfError extends Error {
  override name = 'SsfError';
  constructor(
    readonly status: number,
    readonly code: string,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }
}

export const invalidRequest = (description: string) => new SsfError(400, 'invalid_request', description);
export const streamNotFound = () => new SsfError(404, 'not_found', 'no such stream');
