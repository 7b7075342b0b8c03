/**
 * The CLI's outcomes as exit codes scripts can test: 0 ok, 1 refused or invalid (the API's
 * error code, description and issues are printed), 2 usage (unknown flag, invalid value),
 * 3 unreachable (connection refused, DNS, timeout). Every failure the CLI reports is a
 * CliError; its message never carries a token or secret.
 */
export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface ApiIssue {
  in?: string;
  path?: Array<string | number>;
  code?: string;
  message?: string;
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = new.target.name;
  }

  /** The lines printed on stderr. */
  lines(): string[] {
    return [`error: ${this.message}`];
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

export class UnreachableError extends CliError {
  constructor(message: string) {
    super(message, EXIT.unreachable);
  }
}

/** The server refused, or answered something the CLI cannot use. */
export class RefusedError extends CliError {
  constructor(
    readonly code: string,
    readonly description: string | undefined,
    readonly status: number | undefined,
    readonly issues: ApiIssue[] = [],
  ) {
    super(description ? `${code}: ${description}` : code, EXIT.refused);
  }

  override lines(): string[] {
    const status = this.status ? ` (HTTP ${this.status})` : '';
    return [
      `error: ${this.message}${status}`,
      ...this.issues.map((issue) => `  ${[issue.in, ...(issue.path ?? [])].filter((p) => p !== undefined && p !== '').join('.') || '(request)'}: ${issue.message ?? issue.code ?? 'invalid'}`),
    ];
  }
}

/** An error body of Deputy (admin API or RFC 6749 §5.2) as a RefusedError; anything else generically. */
export function refusal(status: number, body: unknown): RefusedError {
  if (body && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string') {
    const { error, error_description: description, issues } = body as { error: string; error_description?: unknown; issues?: unknown };
    return new RefusedError(
      printable(error),
      typeof description === 'string' ? printable(description) : undefined,
      status,
      Array.isArray(issues) ? (issues as ApiIssue[]) : [],
    );
  }
  return new RefusedError('unexpected_response', `the server answered HTTP ${status} without an error body`, status);
}

/** Server text goes to a terminal: no control characters. */
const printable = (text: string) => text.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 500);

/** What a failed fetch means, without the URL's credentials (the CLI never puts any there). */
export function unreachable(origin: string, error: unknown): UnreachableError {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  const name = (error as { name?: unknown } | undefined)?.name;
  const reason =
    name === 'TimeoutError' || name === 'AbortError'
      ? 'timed out'
      : typeof cause?.code === 'string'
        ? cause.code
        : error instanceof Error
          ? error.message
          : 'network error';
  return new UnreachableError(`cannot reach ${origin}: ${reason}`);
}
