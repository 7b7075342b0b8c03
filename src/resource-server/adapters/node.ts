/**
 * node:http and Express (whose req/res are node's): build the RequestLike from an
 * IncomingMessage, write a refusal, and a (req, res, next) middleware. No Express import.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ChainPolicy } from '../act-chain.js';
import type { VerifiedToken } from '../access-token.js';
import type { Refusal } from '../errors.js';
import type { RequestLike } from '../request.js';
import type { ResourceServer } from '../resource-server.js';

/**
 * The URL the client called: `publicUrl` (the API's external origin, e.g. behind a proxy) plus
 * the request path. Without it, the Host header and the socket's TLS state are used.
 */
export function requestFromNode(req: IncomingMessage & { originalUrl?: string }, publicUrl?: string): RequestLike {
  const path = req.originalUrl ?? req.url ?? '/';
  const origin = publicUrl?.replace(/\/$/, '') ?? `${(req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}`;
  return { method: req.method ?? 'GET', url: `${origin}${path}`, headers: req.headers };
}

export function writeRefusal(res: ServerResponse, refusal: Refusal): void {
  res.statusCode = refusal.status;
  for (const [name, value] of Object.entries(refusal.headers)) res.setHeader(name, value);
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(refusal.body));
}

/**
 * Verifies the request or answers the refusal. Resolves to the caller, or null when it already
 * answered (the handler then returns).
 */
export async function verifyNode(rs: ResourceServer, req: IncomingMessage, res: ServerResponse, policy?: ChainPolicy, publicUrl?: string): Promise<VerifiedToken | null> {
  try {
    return await rs.verify(requestFromNode(req, publicUrl), policy);
  } catch (error) {
    const refusal = rs.refusalFor(error);
    if (!refusal) throw error;
    writeRefusal(res, refusal);
    return null;
  }
}

/** Express (or Connect) middleware: sets `req.deputy` to the caller, or answers the refusal. */
export function expressMiddleware(rs: ResourceServer, policy?: ChainPolicy, publicUrl?: string) {
  return (req: IncomingMessage & { deputy?: VerifiedToken }, res: ServerResponse, next: (error?: unknown) => void): void => {
    rs.verify(requestFromNode(req, publicUrl), policy).then(
      (caller) => {
        req.deputy = caller;
        next();
      },
      (error: unknown) => {
        const refusal = rs.refusalFor(error);
        if (refusal) writeRefusal(res, refusal);
        else next(error);
      },
    );
  };
}

/**
 * The SSF push endpoint (RFC 8935) for node:http / Express: reads the raw body (mount it
 * before any JSON body parser, or where none runs) and answers as the receiver decides.
 */
export function ssfPushHandler(rs: ResourceServer, maxBytes = 64 * 1024) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const receiver = rs.ssf;
    if (!receiver) {
      res.statusCode = 404;
      res.end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        res.statusCode = 413;
        res.end();
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (res.writableEnded) return;
      receiver
        .handlePush({ contentType: req.headers['content-type'], authorization: req.headers.authorization, body: Buffer.concat(chunks).toString('utf8') })
        .then((answer) => {
          res.statusCode = answer.status;
          for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
          res.end(answer.body);
        })
        .catch(() => {
          res.statusCode = 500;
          res.end();
        });
    });
  };
}
