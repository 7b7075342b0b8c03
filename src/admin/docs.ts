/**
 * `GET /admin/v1/docs`: the admin API reference, rendered in the browser by Swagger UI from
 * this API's own OpenAPI document (`openapi.json`). Everything is served by Deputy from the
 * swagger-ui-dist package, nothing from a CDN, under a Content-Security-Policy that lets the
 * page load and call only this origin. Public, like the document it renders. A router of its
 * own, mounted before the API's: these pages are not operations of the API.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import Router from '@koa/router';
import type { Context } from 'koa';

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  // Swagger UI sets style attributes from script.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const page = (prefix: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Deputy admin API</title>
<link rel="stylesheet" href="${prefix}/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${prefix}/docs/swagger-ui-bundle.js"></script>
<script src="${prefix}/docs/init.js"></script>
</body>
</html>
`;

// validatorUrl null: Swagger UI would otherwise send the document to an online validator.
const init = (prefix: string) => `window.ui = SwaggerUIBundle({
  url: ${JSON.stringify(`${prefix}/openapi.json`)},
  dom_id: '#swagger-ui',
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
  validatorUrl: null,
  deepLinking: true,
});
`;

interface Asset {
  type: string;
  body: () => Promise<string | Buffer>;
}

const SWAGGER_UI_DIR = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** Reads a file of swagger-ui-dist once, on first request. */
function packaged(file: string): () => Promise<Buffer> {
  let content: Promise<Buffer> | undefined;
  return () => {
    content ??= readFile(path.join(SWAGGER_UI_DIR, file));
    content.catch(() => (content = undefined));
    return content;
  };
}

/** `prefix` is the admin API's (`/admin/v1`); the page is at `<prefix>/docs`. */
export function createDocsRouter(prefix: string): Router {
  const router = new Router({ prefix: `${prefix}/docs` });
  const assets: Record<string, Asset> = {
    'swagger-ui.css': { type: 'text/css; charset=utf-8', body: packaged('swagger-ui.css') },
    'swagger-ui-bundle.js': { type: 'text/javascript; charset=utf-8', body: packaged('swagger-ui-bundle.js') },
    'init.js': { type: 'text/javascript; charset=utf-8', body: async () => init(prefix) },
  };
  const html = page(prefix);

  const headers = (ctx: Context) => {
    ctx.set('Content-Security-Policy', CSP);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
  };

  router.get('/', (ctx) => {
    headers(ctx);
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = html;
  });
  router.get('/:file', async (ctx, next) => {
    const asset = Object.hasOwn(assets, ctx.params.file!) ? assets[ctx.params.file!] : undefined;
    if (!asset) return next();
    headers(ctx);
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.type = asset.type;
    ctx.body = await asset.body();
  });
  return router;
}
