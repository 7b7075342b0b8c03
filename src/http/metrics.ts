import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  exchanges: Counter<'outcome'>;
  exchangeSeconds: Histogram<'outcome'>;
  httpSeconds: Histogram<'route' | 'method' | 'status'>;
  clientAuthenticationFailures: Counter<'reason'>;
  /** Shared Signals events handed to receivers, by method (push, poll) and outcome. */
  ssfDeliveries: Counter<'method' | 'outcome'>;
  ssfPushSeconds: Histogram<'outcome'>;
  /** Security Event Tokens received from trusted issuers, by outcome. */
  ssfReceived: Counter<'outcome'>;
}

/** One registry per app instance, so several apps in one process (tests) do not collide. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'deputy_' });
  return {
    registry,
    exchanges: new Counter({
      name: 'deputy_token_exchanges_total',
      help: 'Token exchanges by outcome (granted, or the error code)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    exchangeSeconds: new Histogram({
      name: 'deputy_token_exchange_duration_seconds',
      help: 'Token exchange latency by outcome',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    httpSeconds: new Histogram({
      name: 'deputy_http_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    clientAuthenticationFailures: new Counter({
      name: 'deputy_client_authentication_failures_total',
      help: 'Requests to /token, introspection and revocation whose client did not authenticate, by reason (nothing of them is stored)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    ssfDeliveries: new Counter({
      name: 'deputy_ssf_events_delivered_total',
      help: 'Shared Signals events handed to receivers, by method (push, poll) and outcome (delivered, rejected by the receiver, failed and retried)',
      labelNames: ['method', 'outcome'],
      registers: [registry],
    }),
    ssfPushSeconds: new Histogram({
      name: 'deputy_ssf_push_duration_seconds',
      help: 'Time of one Shared Signals push to a receiver, by outcome',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    ssfReceived: new Counter({
      name: 'deputy_ssf_events_received_total',
      help: 'Security Event Tokens received from trusted issuers, by outcome (applied, ignored, refused)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}
