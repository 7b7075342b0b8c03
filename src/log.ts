import { Console } from 'node:console';
import { Writable } from 'node:stream';
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

const ANSI_ESCAPES = /\x1b\[[0-9;]*m/g;

/**
 * Stdout is the JSON log and nothing else. Libraries still write there with console.log/info/
 * debug/dir/table: oidc-provider's notices, for one (console.info in its
 * lib/helpers/attention.js, coloured when stdout is a TTY). Call this once at start-up, before
 * the provider is built: from then on whatever the console writes to stdout becomes one JSON
 * log line (`source: "console"`, at info level); what it writes to stderr stays on stderr.
 * Returns a function that puts the previous console back.
 */
export function routeConsoleToLog(logger: Logger): () => void {
  const previous = globalThis.console;
  const stdout = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      const text = chunk.toString().replace(ANSI_ESCAPES, '').trimEnd();
      if (text.length > 0) logger.info({ source: 'console' }, text);
      done();
    },
  });
  globalThis.console = new Console({ stdout, stderr: process.stderr });
  return () => {
    globalThis.console = previous;
  };
}
