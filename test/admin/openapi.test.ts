/**
 * The OpenAPI document is OpenAPI 3.1, generated from the routes' own schemas, and describes
 * every route the router serves (compared programmatically with router.stack).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createIssuerKeys } from '../../src/trust/issuer-keys.js';
import { createLogger } from '../../src/log.js';
import { createAdminRouter, FALLBACK_ROUTE } from '../../src/admin/router.js';
import type { TestDeputy } from '../support/deputy.js';
import { adminClient, startAdminDeputy } from './support.js';

interface Operation {
  operationId: string;
  parameters?: Array<{ name: string; in: string }>;
  requestBody?: unknown;
  responses: Record<string, unknown>;
  security?: unknown[];
}
type OpenApi = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown> } };

describe('admin OpenAPI document', () => {
  let deputy: TestDeputy;
  let document: OpenApi;

  beforeAll(async () => {
    ({ deputy } = await startAdminDeputy());
    const reply = await adminClient(deputy.url, null).get<OpenApi>('/openapi.json');
    expect(reply.status).toBe(200);
    document = reply.body;
  });
  afterAll(async () => {
    await deputy.stop();
  });

  it('is OpenAPI 3.1', () => {
    expect(document.openapi).toMatch(/^3\.1\.\d+$/);
    expect(document.components.schemas).toHaveProperty('Subject');
    expect(document.components.schemas).toHaveProperty('Error');
  });

  it('describes exactly the routes the router serves', () => {
    const router = createAdminRouter({
      pool: deputy.pool,
      provider: deputy.app.provider,
      config: deputy.config,
      logger: createLogger('silent'),
      clientSecretPepper: 'p'.repeat(32),
      keyRing: deputy.keyRing,
      checkpointKey: deputy.checkpointKey,
      issuerKeys: createIssuerKeys(),
    });
    const served = router.stack
      .filter((layer) => layer.methods.length > 0 && layer.name !== FALLBACK_ROUTE)
      .flatMap((layer) =>
        layer.methods
          .filter((method) => method !== 'HEAD')
          .map((method) => `${method.toLowerCase()} ${String(layer.path).replace(/:(\w+)/g, '{$1}')}`),
      )
      .sort();
    const documented = Object.entries(document.paths)
      .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method} ${path}`))
      .sort();

    expect(served.length).toBeGreaterThan(30);
    expect(documented).toEqual(served);
  });

  it('covers the routes of SPEC §5', () => {
    const required = [
      'get /admin/v1/subjects', 'post /admin/v1/subjects', 'get /admin/v1/subjects/{id}', 'patch /admin/v1/subjects/{id}',
      'get /admin/v1/actors', 'post /admin/v1/actors', 'get /admin/v1/actors/{id}', 'patch /admin/v1/actors/{id}',
      'get /admin/v1/clients', 'post /admin/v1/clients', 'get /admin/v1/clients/{id}', 'patch /admin/v1/clients/{id}',
      'get /admin/v1/resources', 'post /admin/v1/resources', 'get /admin/v1/resources/{id}', 'patch /admin/v1/resources/{id}',
      'get /admin/v1/issuers', 'post /admin/v1/issuers', 'get /admin/v1/issuers/{id}', 'patch /admin/v1/issuers/{id}',
      'get /admin/v1/entitlements', 'post /admin/v1/entitlements', 'get /admin/v1/entitlements/{id}', 'delete /admin/v1/entitlements/{id}',
      'get /admin/v1/grants', 'post /admin/v1/grants', 'get /admin/v1/grants/{id}', 'post /admin/v1/grants/{id}/revoke',
      'get /admin/v1/tokens', 'post /admin/v1/tokens/{jti}/revoke',
      'get /admin/v1/audit', 'get /admin/v1/audit/verify', 'get /admin/v1/openapi.json',
    ];
    const documented = Object.entries(document.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method} ${path}`));
    expect(documented).toEqual(expect.arrayContaining(required));
  });

  it('documents parameters, bodies, errors and security from the schemas', () => {
    const listActors = document.paths['/admin/v1/actors']!.get!;
    expect(listActors.parameters!.map((p) => p.name)).toEqual(
      expect.arrayContaining(['limit', 'cursor', 'owner', 'kind', 'status', 'expiring_before', 'unused_since']),
    );
    expect(Object.keys(listActors.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403']));

    const createClient = document.paths['/admin/v1/clients']!.post!;
    expect(createClient.requestBody).toBeDefined();
    expect(Object.keys(createClient.responses)).toEqual(expect.arrayContaining(['201', '400', '409', '413', '415']));

    const getGrant = document.paths['/admin/v1/grants/{id}']!.get!;
    expect(getGrant.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'id', in: 'path' })]));
    expect(getGrant.responses).toHaveProperty('404');

    expect(document.paths['/admin/v1/openapi.json']!.get!.security).toEqual([]);
    expect(getGrant.security).toEqual([{ bearer: [] }]);
  });

  it('every operation has a unique operationId', () => {
    const ids = Object.values(document.paths).flatMap((operations) => Object.values(operations).map((op) => op.operationId));
    expect(new Set(ids).size).toBe(ids.length);
  });
});
