import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs on stdout. Nothing that could carry a credential is ever passed to the logger;
 * the redaction list is a second line of defence.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'deputy', pid: process.pid },
    redact: {
      paths: [
        'authorization',
        '*.authorization',
        'headers.authorization',
        'req.headers.authorization',
        'req.headers.dpop',
        'client_secret',
        '*.client_secret',
        'subject_token',
        'actor_token',
        'token',
        '*.token',
        'access_token',
        '*.access_token',
        'password',
      ],
      censor: '[redacted]',
    },
  });
}
