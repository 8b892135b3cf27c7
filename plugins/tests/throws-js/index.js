// A JavaScript service that fails on purpose, for the tests:
//
// - `GET /boom` throws a plain Error, `GET /later` rejects after an await,
//   `GET /string` throws a string: each is a bug, not a Problem, so the
//   instance traps and the host answers 500 `service_failed`;
// - `GET /problem` throws a Problem: the host renders it (409 `conflict`);
// - `GET /ok` answers normally (the service keeps serving).

import { Problem, Router, service } from '@berth/sdk';

const router = new Router()
  .get('/ok', (request) => ({ ok: true, request_id: request.requestId }), { summary: 'Answer' })
  .get(
    '/boom',
    () => {
      throw new Error('the handler failed');
    },
    { summary: 'Throw an Error' },
  )
  .get(
    '/later',
    async () => {
      await Promise.resolve();
      throw new TypeError('the handler failed after an await');
    },
    { summary: 'Reject' },
  )
  .get(
    '/string',
    () => {
      throw 'not an Error';
    },
    { summary: 'Throw a string' },
  )
  .get(
    '/problem',
    () => {
      throw Problem.conflict('a problem, reported on purpose');
    },
    { summary: 'Throw a Problem' },
  );

export const handler = service({
  name: 'throws-js',
  version: '1.0.0',
  description: 'Throws on purpose.',
  router,
});
