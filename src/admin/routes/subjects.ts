/** Subjects: the humans on whose behalf tokens are minted. `status: disabled` stops every exchange for them. */
import { z } from 'zod';
import { cancelPendingApprovals } from '../../approval/store.js';
import type { AdminApi } from '../api.js';
import { changeWithAudit, columnsFrom, assignments, fieldChanges } from '../changes.js';
import { notFound } from '../errors.js';
import { Filters, listPage, type KeyColumn } from '../pagination.js';
import type { AdminDeps } from '../router.js';
import { IdParam, Identifier, TimestampOut, nonEmptyPatch, pageOf, pageQuery } from '../schemas.js';

const Status = z.enum(['active', 'disabled']);
const Email = z.email().max(320);

export const Subject = z
  .object({ id: z.string(), email: z.string().nullable(), status: Status, created_at: TimestampOut })
  .meta({ id: 'Subject' });
type SubjectOut = z.infer<typeof Subject>;
const SubjectPage = pageOf(Subject, 'SubjectPage');

const SubjectCreate = z
  .strictObject({ id: Identifier.meta({ example: 'alice' }), email: Email.nullable().optional(), status: Status.default('active') })
  .meta({ id: 'SubjectCreate' });

const SubjectPatch = nonEmptyPatch(z.strictObject({ email: Email.nullable().optional(), status: Status.optional() })).meta({ id: 'SubjectPatch' });

const SubjectQuery = z.strictObject({ ...pageQuery, status: Status.optional() });

interface SubjectRow extends Record<string, unknown> {
  id: string;
  email: string | null;
  status: 'active' | 'disabled';
  created_at: Date;
}

const COLUMNS = 'id, email, status, created_at';
const KEY: KeyColumn[] = [
  { column: 'created_at', type: 'timestamptz', field: 'created_at' },
  { column: 'id', type: 'text', field: 'id' },
];

const toSubject = (row: SubjectRow): SubjectOut => ({ id: row.id, email: row.email, status: row.status, created_at: row.created_at.toISOString() });

export function subjectRoutes(api: AdminApi, { pool }: AdminDeps): void {
  api.route({
    method: 'get',
    path: '/subjects',
    operationId: 'listSubjects',
    tag: 'subjects',
    summary: 'List subjects, newest first',
    query: SubjectQuery,
    status: 200,
    response: SubjectPage,
    responseDescription: 'A page of subjects',
    handler: ({ query }) =>
      listPage(pool, {
        from: `SELECT ${COLUMNS} FROM subjects`,
        filters: new Filters().when(query.status, 'status = $?'),
        key: KEY,
        limit: query.limit,
        cursor: query.cursor,
        toItem: toSubject,
      }),
  });

  api.route({
    method: 'post',
    path: '/subjects',
    operationId: 'createSubject',
    tag: 'subjects',
    summary: 'Create a subject',
    body: SubjectCreate,
    status: 201,
    response: Subject,
    responseDescription: 'The created subject',
    errors: [409],
    handler: ({ body, admin, requestId }) =>
      changeWithAudit(pool, { admin, requestId }, async (db, record) => {
        const { rows } = await db.query<SubjectRow>(
          `INSERT INTO subjects (id, email, status) VALUES ($1, $2, $3) RETURNING ${COLUMNS}`,
          [body.id, body.email ?? null, body.status],
        );
        const subject = toSubject(rows[0]!);
        await record({ type: 'subject.created', subjectId: subject.id, details: { email: subject.email, status: subject.status } });
        return subject;
      }),
  });

  api.route({
    method: 'get',
    path: '/subjects/:id',
    operationId: 'getSubject',
    tag: 'subjects',
    summary: 'Read a subject',
    params: IdParam,
    status: 200,
    response: Subject,
    responseDescription: 'The subject',
    handler: async ({ params }) => {
      const { rows } = await pool.query<SubjectRow>(`SELECT ${COLUMNS} FROM subjects WHERE id = $1`, [params.id]);
      if (!rows[0]) throw notFound('subject');
      return toSubject(rows[0]);
    },
  });

  api.route({
    method: 'patch',
    path: '/subjects/:id',
    operationId: 'updateSubject',
    tag: 'subjects',
    summary: 'Update a subject’s email or status',
    description: '`status: disabled` makes every exchange for the subject fail and every token naming it inactive at once.',
    params: IdParam,
    body: SubjectPatch,
    status: 200,
    response: Subject,
    responseDescription: 'The updated subject',
    errors: [409],
    handler: ({ params, body, admin, requestId }) =>
      changeWithAudit(pool, { admin, requestId }, async (db, record) => {
        const current = await db.query<SubjectRow>(`SELECT ${COLUMNS} FROM subjects WHERE id = $1 FOR UPDATE`, [params.id]);
        if (!current.rows[0]) throw notFound('subject');
        const set = assignments(columnsFrom(body, { email: 'email', status: 'status' }), 1);
        const { rows } = await db.query<SubjectRow>(
          `UPDATE subjects SET ${set.sql}, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
          [params.id, ...set.values],
        );
        const before = toSubject(current.rows[0]);
        const after = toSubject(rows[0]!);
        const changes = fieldChanges(before, after, ['email', 'status']);
        if (Object.keys(changes).length > 0) await record({ type: 'subject.updated', subjectId: after.id, details: { changes } });
        // A disabled subject's pending approval requests end with it.
        if (after.status === 'disabled' && before.status !== 'disabled') await cancelPendingApprovals(db, { subjectId: after.id }, 'subject_disabled', new Date(), requestId);
        return after;
      }),
  });
}
