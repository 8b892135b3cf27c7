import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import { DatabaseError, Problem, Response, Router, db, json, service, settings } from '@berth/sdk';

import * as database from './fakes/database.js';
import { lines } from './fakes/log.js';
import { values } from './fakes/settings.js';

const decode = (bytes) => new TextDecoder().decode(bytes);

/** A WIT request record. */
function request(method, route, { path = route, params = [], query = [], headers = [], body = '' } = {}) {
  return {
    method: { tag: method },
    path,
    route,
    params,
    query,
    headers,
    body: new TextEncoder().encode(body),
    requestId: 'req-1',
    tenant: 'default',
  };
}

beforeEach(() => {
  lines.length = 0;
  database.calls.length = 0;
  database.next.length = 0;
  values.clear();
});

const Thing = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] };

function things() {
  return service({
    name: 'things',
    version: '1.2.3',
    description: 'Things.',
    router: new Router()
      .get('/{id}', (r) => ({ id: r.param('id'), q: r.query('q'), h: r.header('X-Test') }), {
        summary: 'Read a thing',
        responseSchema: Thing,
      })
      .post('/', (r) => r.json(), { summary: 'Create a thing', status: 201, requestSchema: Thing })
      .delete('/{id}', () => undefined, { status: 204 })
      .put('/{id}', () => Response.text('plain', 202).withHeader('X-Kind', 'text'))
      .patch('/{id}', () => {
        throw Problem.validation('name', 'name is taken');
      })
      .route('OPTIONS', '/boom', () => {
        throw new RangeError('a bug');
      })
      .route('PURGE', '/odd', function purge() {
        throw 'not an Error';
      }),
    settings: [{ key: 'greeting', description: 'How to greet', default: 'Hello' }],
    migrations: [{ version: 1, name: 'create', sql: 'CREATE TABLE t (id INTEGER)', dialects: { postgres: 'CREATE TABLE t (id BIGINT)' } }],
    capabilities: ['database'],
  });
}

test('the manifest describes routes, schemas, settings, migrations and capabilities', () => {
  const manifest = things().describe();
  assert.equal(manifest.name, 'things');
  assert.equal(manifest.version, '1.2.3');
  assert.deepEqual(manifest.routes[0], {
    method: { tag: 'get' },
    path: '/{id}',
    summary: 'Read a thing',
    successStatus: 200,
    requestSchema: undefined,
    responseSchema: JSON.stringify(Thing),
    params: [],
  });
  assert.equal(manifest.routes[1].successStatus, 201);
  assert.deepEqual(JSON.parse(manifest.routes[1].requestSchema), Thing);
  assert.deepEqual(manifest.routes[6].method, { tag: 'other', val: 'PURGE' });
  assert.equal(manifest.routes[6].summary, 'purge', 'the summary defaults to the handler name');
  assert.deepEqual(manifest.settings, [{ key: 'greeting', description: 'How to greet', default: 'Hello' }]);
  assert.deepEqual(manifest.migrations[0].dialectSql, [['postgres', 'CREATE TABLE t (id BIGINT)']]);
  assert.deepEqual(manifest.capabilities, ['database']);
  assert.throws(() => service({ name: 'x', version: '1', router: new Router(), capabilities: ['files'] }), /unknown capability/);
  assert.throws(() => new Router().get('/', () => 1).get('/', () => 2), /declared twice/);
});

test('handlers answer JSON with the route status, an empty body, or their own response', async () => {
  const handler = things();
  const read = await handler.handle(
    request('get', '/{id}', { path: '/things/7', params: [['id', '7']], query: [['q', 'a b']], headers: [['x-test', 'yes']] }),
  );
  assert.equal(read.status, 200);
  assert.deepEqual(read.headers, [['content-type', 'application/json']]);
  assert.deepEqual(JSON.parse(decode(read.body)), { id: '7', q: 'a b', h: 'yes' });

  const created = await handler.handle(request('post', '/', { body: '{"name":"n"}' }));
  assert.equal(created.status, 201);
  assert.deepEqual(JSON.parse(decode(created.body)), { name: 'n' });

  const deleted = await handler.handle(request('delete', '/{id}'));
  assert.deepEqual([deleted.status, deleted.body.length], [204, 0]);

  const put = await handler.handle(request('put', '/{id}'));
  assert.equal(put.status, 202);
  assert.deepEqual(put.headers, [['content-type', 'text/plain; charset=utf-8'], ['x-kind', 'text']]);
  assert.equal(decode(put.body), 'plain');
});

test('a Problem is returned as the WIT problem; a body that is not JSON is a 422', async () => {
  const handler = things();
  assert.deepEqual(await handler.handle(request('patch', '/{id}')), {
    tag: 'err',
    val: { status: 422, code: 'validation_error', message: 'name is taken', field: 'name' },
  });
  const notJson = await handler.handle(request('post', '/', { body: '{"name":' }));
  assert.equal(notJson.tag, 'err');
  assert.equal(notJson.val.field, 'body');
  const unknown = await handler.handle(request('get', '/nope'));
  assert.deepEqual([unknown.val.status, unknown.val.code], [404, 'not_found']);
  assert.throws(() => new Problem(200, 'ok', 'not a problem'), /400 to 599/);
});

/** Asserts that `promise` rejects with a trap whose reason matches `pattern`. */
async function traps(promise, pattern) {
  const thrown = await promise.then(
    () => assert.fail('it resolved'),
    (error) => error,
  );
  assert.ok(!(thrown instanceof Error), 'not an Error, which would be lowered as is');
  assert.throws(() => thrown.payload.status, pattern, 'lowering its payload throws the reason');
  assert.match(thrown.reason.message, pattern);
}

test('anything else thrown is logged and makes the instance trap', async () => {
  const handler = things();
  await traps(handler.handle(request('options', '/boom')), /unhandled RangeError: a bug$/);
  assert.equal(lines.length, 1);
  assert.equal(lines[0].level, 'error');
  assert.equal(lines[0].message, 'unhandled error');
  assert.match(lines[0].fields.stack, /RangeError: a bug/);
  const odd = { ...request('get', '/odd'), method: { tag: 'other', val: 'PURGE' } };
  await traps(handler.handle(odd), /unhandled non-Error not an Error$/);
  // An Error shaped like a problem is a bug all the same.
  const shaped = service({
    name: 's',
    version: '1',
    router: new Router().get('/', () => {
      throw Object.assign(new Error('upstream said no'), { status: 502, code: 'ECONNRESET' });
    }),
  });
  await traps(shaped.handle(request('get', '/')), /upstream said no/);
});

test('statements bind typed parameters and read rows as objects', () => {
  database.next.push({ columns: ['id', 'name'], rows: [[{ tag: 'integer', val: 1n }, { tag: 'text', val: 'a' }]] });
  assert.deepEqual(db.query('SELECT id, name FROM t WHERE id = $1 AND f = $2', [1, 0.5]), [{ id: 1, name: 'a' }]);
  assert.deepEqual(database.calls[0].params, [{ tag: 'integer', val: 1n }, { tag: 'real', val: 0.5 }]);
  database.next.push(3n);
  assert.equal(db.execute('DELETE FROM t'), 3);
  assert.equal(db.first('SELECT 1 WHERE 0'), undefined);
  assert.equal(db.dialect(), 'sqlite');
});

test('a failed statement is a DatabaseError: a Problem with a public message and a logged detail', async () => {
  database.next.push({ error: { tag: 'constraint-violation', val: 'UNIQUE constraint failed: t.name' } });
  let thrown;
  try {
    db.execute('INSERT INTO t (name) VALUES ($1)', ['a']);
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof DatabaseError && thrown instanceof Problem);
  assert.deepEqual([thrown.status, thrown.code, thrown.kind], [409, 'conflict', 'constraint-violation']);
  assert.doesNotMatch(thrown.message, /UNIQUE/);

  database.next.push({ error: { tag: 'unavailable', val: 'pool timed out' } });
  const handler = service({ name: 'd', version: '1', router: new Router().get('/', () => db.query('SELECT 1')) });
  const answer = await handler.handle(request('get', '/'));
  assert.deepEqual([answer.tag, answer.val.status, answer.val.code], ['err', 503, 'unavailable']);
  assert.deepEqual(lines.at(-1), { level: 'warn', message: 'database error', fields: { kind: 'unavailable', detail: 'pool timed out' } });
});

test('a transaction commits what its work returns and rolls back what throws', async () => {
  database.next.push(1n);
  const id = await db.transaction(async (tx) => {
    tx.execute('INSERT INTO t VALUES ($1)', [5n]);
    return 5;
  });
  assert.equal(id, 5);
  assert.deepEqual(database.calls.map((c) => c.op), ['begin', 'tx.execute', 'commit']);

  database.calls.length = 0;
  await assert.rejects(
    db.transaction((tx) => {
      tx.execute('INSERT INTO t VALUES ($1)', [6]);
      throw Problem.conflict('no');
    }),
    { code: 'conflict' },
  );
  assert.deepEqual(database.calls.map((c) => c.op), ['begin', 'tx.execute', 'rollback']);
});

test('settings fall back to the given default; log fields are strings', () => {
  values.set('b', '2').set('a', '1');
  assert.equal(settings.get('a'), '1');
  assert.equal(settings.get('missing', 'fallback'), 'fallback');
  assert.deepEqual(settings.all(), { a: '1', b: '2' });
  assert.equal(json({ n: 2n ** 70n, m: 3n }).body.length > 0, true);
  assert.deepEqual(JSON.parse(decode(json({ n: 2n ** 70n, m: 3n }).body)), { n: '1180591620717411303424', m: 3 });
});

test('declared parameters are published typed and reach the handler converted', async () => {
  const router = new Router().get('/{id}', (r, { path, query }) => ({ path, query }), {
    path: { id: { type: 'integer', minimum: 1, description: 'The id' } },
    query: {
      limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
      exact: { type: 'boolean' },
      after: { type: 'string' },
    },
    optional: ['after'],
  });
  const [route] = router.describe();
  const byName = Object.fromEntries(route.params.map((p) => [p.name, p]));
  assert.deepEqual(byName.id, {
    name: 'id',
    location: 'path',
    required: true,
    description: 'The id',
    schema: JSON.stringify({ type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
  });
  assert.equal(byName.limit.required, false, 'a default makes it optional');
  assert.equal(byName.exact.required, true);
  assert.equal(byName.after.required, false);
  const svc = service({ name: 'p', version: '1', router });
  const answer = await svc.handle(
    request('get', '/{id}', { path: '/p/7', params: [['id', '7']], query: [['exact', 'true']] }),
  );
  assert.deepEqual(JSON.parse(decode(answer.body)), { path: { id: 7 }, query: { limit: 20, exact: true } });
  assert.throws(
    () => new Router().get('/', () => 1, { query: { q: { type: 'array' } } }),
    /integer, number, boolean or string/,
  );
});
