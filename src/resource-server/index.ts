/**
 * deputy/resource-server: verify Deputy's access tokens in an API (see docs/resource-server.md).
 */
export { createResourceServer, DEFAULT_ALGORITHMS, type ResourceServer, type ResourceServerOptions } from './resource-server.js';
export { chainOf, checkChain, type ActClaim, type ChainFacts, type ChainPolicy, type ChainVerdict } from './act-chain.js';
export type { VerifiedToken } from './access-token.js';
export { AccessError, refusal, wwwAuthenticate, type ErrorCode, type Refusal, type Scheme } from './errors.js';
export { MemoryJtiStore, type JtiStore } from './expiring-set.js';
export { credentialsOf, headerValues, type RequestLike } from './request.js';
export { SESSION_REVOKED, VERIFICATION, SetError, verifySecurityEvent, type SecurityEvent } from './security-event.js';
export { SsfReceiver, PUSH_DELIVERY, POLL_DELIVERY, type Delivery, type PushRequest, type PushResponse, type StreamConfig } from './ssf-receiver.js';
export { DEFAULT_DPOP_ALGORITHMS, accessTokenHash, normalizeHtu } from './dpop.js';
export { expressMiddleware, requestFromNode, ssfPushHandler, verifyNode, writeRefusal } from './adapters/node.js';
export { koaMiddleware, koaSsfPush, type KoaContextLike } from './adapters/koa.js';
export { fastifyPreHandler, type FastifyReplyLike, type FastifyRequestLike } from './adapters/fastify.js';
