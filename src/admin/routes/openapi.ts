/** `GET /admin/v1/openapi.json`: public, so tools can discover the API before holding a token. */
import { z } from 'zod';
import type { AdminApi } from '../api.js';

const OpenApiDocument = z.looseObject({ openapi: z.string() }).meta({ id: 'OpenApiDocument', description: 'This document' });

export function openApiRoute(api: AdminApi, document: () => object): void {
  api.route({
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApiDocument',
    tag: 'meta',
    summary: 'The OpenAPI 3.1 description of this API',
    public: true,
    status: 200,
    response: OpenApiDocument,
    responseDescription: 'The OpenAPI document',
    handler: async () => document() as z.input<typeof OpenApiDocument>,
  });
}
