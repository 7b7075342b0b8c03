# syntax=docker/dockerfile:1
# Deputy's container image: `docker build -t deputy .` from a clone, or `docker compose up`
# (compose.yaml) with a PostgreSQL beside it. The runtime stage holds dist/, the SQL migrations
# and the production dependencies only: no TypeScript, tsx, Prisma CLI or embedded PostgreSQL,
# so DATABASE_URL is required. test/release/production-image.test.ts runs this file's build
# and runtime steps, its environment, command and health check against a real PostgreSQL.

ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json prisma.config.ts ./
COPY prisma ./prisma
COPY scripts/build.mjs scripts/prisma-generate.mjs ./scripts/
COPY src ./src
# The Prisma client (the admin API's data access) is generated from the schema, offline, then compiled into dist/.
RUN node scripts/prisma-generate.mjs && npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DEMO_SEED=false \
    DEPUTY_HOME=/tmp/deputy
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
# The image's files stay root's: the service can read them, not change them.
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node is PID 1 and handles SIGTERM/SIGINT itself (finish in-flight requests, then exit).
CMD ["node", "dist/main.js"]
