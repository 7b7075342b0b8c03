import pg from 'pg';

export default async function globalTeardown(): Promise<void> {
  const state = globalThis.__deputyTestDatabase;
  if (!state) return;
  if (state.embedded) {
    await state.embedded.stop();
    return;
  }
  // A shared server (DATABASE_URL): drop what this run created.
  const admin = new pg.Client({ connectionString: state.adminUrl });
  await admin.connect();
  const { rows } = await admin.query<{ datname: string }>(
    `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2`,
    [state.template, `${state.template.replace('_tpl_', '_t_')}%`],
  );
  for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
  await admin.end();
}
