/**
 * The OpenAPI 3.1 document of the admin API, generated from the routes' own zod schemas (see
 * AdminApi.route); nothing here describes an operation by hand.
 */
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';

export function createRegistry(): OpenAPIRegistry {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description:
      'DEPUTY_ADMIN_TOKEN (bootstrap), or an access token obtained with client_credentials by a client holding scope deputy:admin.',
  });
  return registry;
}

export function generateDocument(registry: OpenAPIRegistry, issuer: string) {
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Deputy admin API',
      version: '1',
      description:
        'Manage subjects, actors, clients, resources, trusted issuers, entitlements and delegation grants; ' +
        'inspect and revoke issued tokens; read and verify the audit log. JSON in and out, snake_case fields, RFC 3339 times. ' +
        'Lists are newest first, paged with `limit` and an opaque `cursor`. Every change writes an audit event naming the admin.',
    },
    servers: [{ url: issuer }],
    security: [{ bearer: [] }],
  });
}
