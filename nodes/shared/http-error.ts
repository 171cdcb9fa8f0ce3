/**
 * An error that is an HTTP answer: the status, a stable id (the v0002 API's `exception.id`), the
 * translated message, the properties the id refers to, and headers to send with it. The HTTP API
 * and the editor sidebar's admin routes both answer with it.
 */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly id: string,
    message: string,
    readonly properties: string[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}
