/**
 * GET /admin/v1/docs: the admin API reference rendered offline by Swagger UI from the API's own
 * OpenAPI document. The page, its scripts and stylesheet all come from Deputy; nothing names an
 * outside URL; the Content-Security-Policy lets the page load and call this origin only.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { startTestDeputy, type TestDeputy } from '../support/deputy.js';

const swaggerUiDir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

describe('the admin API reference page', () => {
  let deputy: TestDeputy;
  let page: Response;
  let html: string;

  beforeAll(async () => {
    deputy = await startTestDeputy();
    page = await fetch(`${deputy.url}/admin/v1/docs`);
    html = await page.text();
  });
  afterAll(() => deputy.stop());

  const referenced = () => [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);

  it('is served without credentials, as HTML under a strict Content-Security-Policy', () => {
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = page.headers.get('content-security-policy')!.split(';').map((directive) => directive.trim());
    expect(csp).toEqual(expect.arrayContaining(["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]));
    expect(csp.join(' ')).not.toMatch(/https?:|\*|unsafe-eval/);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('loads Swagger UI and its own start-up script from Deputy, and names no outside URL', async () => {
    expect(referenced().sort()).toEqual(['/admin/v1/docs/init.js', '/admin/v1/docs/swagger-ui-bundle.js', '/admin/v1/docs/swagger-ui.css']);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script>|<style>|\son[a-z]+=/); // no inline code: script-src 'self' holds

    const init = await fetch(`${deputy.url}/admin/v1/docs/init.js`);
    const initCode = await init.text();
    expect(init.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(initCode).toContain('url: "/admin/v1/openapi.json"');
    expect(initCode).toContain('validatorUrl: null'); // never posts the document to an online validator
    expect(initCode).not.toMatch(/https?:\/\//);
  });

  it('serves swagger-ui-dist files as shipped, with their content types', async () => {
    for (const [file, type] of [
      ['swagger-ui-bundle.js', 'text/javascript; charset=utf-8'],
      ['swagger-ui.css', 'text/css; charset=utf-8'],
    ] as const) {
      const response = await fetch(`${deputy.url}/admin/v1/docs/${file}`);
      expect([file, response.status, response.headers.get('content-type')]).toEqual([file, 200, type]);
      expect(Buffer.from(await response.arrayBuffer()).equals(readFileSync(path.join(swaggerUiDir, file)))).toBe(true);
    }
  });

  it('renders the document the API publishes', async () => {
    const document = await fetch(`${deputy.url}/admin/v1/openapi.json`);
    expect(document.status).toBe(200);
    expect(((await document.json()) as { openapi: string }).openapi).toBe('3.1.0');
  });

  it('serves nothing else from the package (404 in the API error shape)', async () => {
    for (const file of ['package.json', 'index.html', 'swagger-initializer.js', '..%2Fpackage.json']) {
      const response = await fetch(`${deputy.url}/admin/v1/docs/${file}`);
      expect([file, response.status]).toEqual([file, 404]);
      expect(await response.json()).toMatchObject({ error: 'not_found' });
    }
  });
});
