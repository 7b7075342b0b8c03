import { defineConfig } from 'prisma/config';

// Deputy applies its own SQL migrations (src/db/migrate.ts); Prisma only generates the client.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'migrations' },
});
