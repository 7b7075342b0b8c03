/**
 * Counts at a glance (the console's overview): the NHI inventory's state, live grants, and the
 * last 24 hours of exchanges. Each count is one indexed aggregate, read live.
 */
import { z } from 'zod';
import type { AdminApi } from '../api.js';
import type { RouteDeps } from '../router.js';

const Overview = z
  .object({
    active_actors_by_kind: z.record(z.string(), z.number().int()).meta({ description: 'Active, unexpired actors per kind' }),
    disabled_actors: z.number().int(),
    actors_expiring_within_7_days: z.number().int().meta({ description: 'Active actors whose expires_at falls in the next 7 days' }),
    actors_unused_for_30_days: z.number().int().meta({ description: 'Active actors never used, or last used more than 30 days ago' }),
    active_grants: z.number().int(),
    tokens_minted_24h: z.number().int(),
    exchanges_denied_24h: z.record(z.string(), z.number().int()).meta({ description: 'Denied token exchanges of the last 24 hours, by error' }),
  })
  .meta({ id: 'Overview' });

const OVERVIEW_SQL = `
SELECT
  (SELECT coalesce(json_object_agg(kind, n), '{}') FROM (
     SELECT kind, count(*)::int AS n FROM actors WHERE status = 'active' AND (expires_at IS NULL OR expires_at > now()) GROUP BY kind) k) AS by_kind,
  (SELECT count(*)::int FROM actors WHERE status = 'disabled') AS disabled,
  (SELECT count(*)::int FROM actors WHERE status = 'active' AND expires_at > now() AND expires_at <= now() + interval '7 days') AS expiring,
  (SELECT count(*)::int FROM actors WHERE status = 'active' AND (last_used_at IS NULL OR last_used_at < now() - interval '30 days')) AS unused,
  (SELECT count(*)::int FROM delegation_grants g WHERE deputy_grant_is_live(g, now())) AS grants,
  (SELECT count(*)::int FROM issued_tokens WHERE issued_at > now() - interval '24 hours') AS minted,
  (SELECT coalesce(json_object_agg(reason, n), '{}') FROM (
     SELECT coalesce(error, 'unknown') AS reason, count(*)::int AS n FROM audit_events
      WHERE at > now() - interval '24 hours' AND type = 'token.exchange_denied' GROUP BY 1) d) AS denied`;

interface OverviewRow {
  by_kind: Record<string, number>;
  disabled: number;
  expiring: number;
  unused: number;
  grants: number;
  minted: number;
  denied: Record<string, number>;
}

export function overviewRoutes(api: AdminApi, deps: RouteDeps): void {
  api.route({
    method: 'get',
    path: '/overview',
    operationId: 'getOverview',
    tag: 'overview',
    summary: 'Counts at a glance: actors, grants, and the last 24 hours of exchanges',
    status: 200,
    response: Overview,
    responseDescription: 'The counts',
    handler: async () => {
      // Seven aggregates in one round trip: one statement Prisma's queries cannot express.
      const [row] = (await deps.prisma.$queryRawUnsafe<OverviewRow[]>(OVERVIEW_SQL)) as [OverviewRow];
      return {
        active_actors_by_kind: row.by_kind,
        disabled_actors: row.disabled,
        actors_expiring_within_7_days: row.expiring,
        actors_unused_for_30_days: row.unused,
        active_grants: row.grants,
        tokens_minted_24h: row.minted,
        exchanges_denied_24h: row.denied,
      };
    },
  });
}
