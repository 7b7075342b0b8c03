/** Subjects: the humans on whose behalf tokens are minted. `status: disabled` stops every exchange for them. */
import { z } from 'zod';
import { cancelPendingApprovals } from '../../approval/store.js';
import type { AdminApi } from '../api.js';
import type { Subject as SubjectRow } from '../../generated/prisma/client.js';
import { changeWithAudit, fieldChanges, lockRow } from '../changes.js';
import { notFound } from '../errors.js';
import { keyset, keysetPage, type SortKey } from '../pagination.js';
import type { RouteDeps } from '../router.js';
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

const KEY: SortKey[] = [
  { field: 'createdAt', type: 'timestamptz' },
  { field: 'id', type: 'text' },
];

const toSubject = (row: SubjectRow): SubjectOut => ({
  id: row.id,
  email: row.email,
  status: row.status as SubjectOut['status'],
  created_at: row.createdAt.toISOString(),
});

export function subjectRoutes(api: AdminApi, deps: RouteDeps): void {
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
    handler: async ({ query }) => {
      const page = keyset(KEY, query.limit, query.cursor);
      const rows = await deps.prisma.subject.findMany({
        where: { AND: [query.status === undefined ? {} : { status: query.status }, page.after] },
        orderBy: page.orderBy,
        take: page.take,
      });
      return keysetPage(rows, KEY, query.limit, toSubject);
    },
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
      changeWithAudit(deps.prisma, { admin, requestId }, async (tx, record) => {
        const subject = toSubject(await tx.subject.create({ data: { id: body.id, email: body.email ?? null, status: body.status } }));
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
      const subject = await deps.prisma.subject.findUnique({ where: { id: params.id } });
      if (!subject) throw notFound('subject');
      return toSubject(subject);
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
      changeWithAudit(deps.prisma, { admin, requestId }, async (tx, record) => {
        const current = (await lockRow(tx, 'subjects', params.id)) ? await tx.subject.findUnique({ where: { id: params.id } }) : null;
        if (!current) throw notFound('subject');
        const updated = await tx.subject.update({
          where: { id: params.id },
          data: { email: body.email, status: body.status, updatedAt: new Date() },
        });
        const before = toSubject(current);
        const after = toSubject(updated);
        const changes = fieldChanges(before, after, ['email', 'status']);
        if (Object.keys(changes).length > 0) await record({ type: 'subject.updated', subjectId: after.id, details: { changes } });
        // A disabled subject's pending approval requests end with it.
        if (after.status === 'disabled' && before.status !== 'disabled') await cancelPendingApprovals(tx, { subjectId: after.id }, 'subject_disabled', new Date(), requestId);
        return after;
      }),
  });
}
