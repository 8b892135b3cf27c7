// The routes `items-js` declares, relative to its mount point, and their
// handlers: parse, call the business logic, read or write the model, answer.

import { Problem, Response, Router, db } from '@berth/sdk';

import * as models from './models.js';
import { Item, ItemInput, ItemPage, ItemPatch, itemJson, pageJson } from './schemas.js';
import * as service from './service.js';

const notFound = (id) => Problem.notFound(`item ${id} does not exist`);

/** JSON text (see `schemas.itemJson`) as a response. */
const jsonText = (text, status = 200) => new Response(status, [['content-type', 'application/json']], text);

/** The JSON body, with the checks JSON.parse cannot make (see `service.checkBodyText`). */
function body(request) {
  const value = request.json();
  service.checkBodyText(request.text());
  return value;
}

function create(request) {
  const input = service.validate(body(request));
  const item = models.insert(db, input, service.now());
  const location = `${request.path.replace(/\/+$/, '')}/${item.id}`;
  return jsonText(itemJson(item), 201).withHeader('location', location);
}

function list(request) {
  const { limit, offset } = service.pagination(request.query('limit'), request.query('offset'));
  const { items, total } = models.listPage(db, limit, service.sqlOffset(offset));
  return jsonText(pageJson({ items, total, limit, offset }));
}

function read(request) {
  const id = service.parseId(request.param('id'));
  const item = models.find(db, id);
  if (item === undefined) throw notFound(id);
  return jsonText(itemJson(item));
}

function replace(request) {
  const id = service.parseId(request.param('id'));
  const input = service.validate(body(request));
  const item = models.update(db, id, input, service.now());
  if (item === undefined) throw notFound(id);
  return jsonText(itemJson(item));
}

async function patch(request) {
  const id = service.parseId(request.param('id'));
  const changes = body(request);
  // Read and write in one transaction so that concurrent patches of the
  // same item do not lose each other's changes.
  const item = await db.transaction((tx) => {
    const current = models.find(tx, id);
    if (current === undefined) throw notFound(id);
    const merged = service.applyPatch(current, changes);
    const updated = models.update(tx, id, merged, service.now());
    if (updated === undefined) throw notFound(id);
    return updated;
  });
  return jsonText(itemJson(item));
}

function remove(request) {
  const id = service.parseId(request.param('id'));
  if (!models.remove(db, id)) throw notFound(id);
  return Response.empty(204);
}

// The parameters, as the host checks and publishes them. Ids stay below
// 2^53 so that a JSON Schema bound written from JavaScript is exact.
const Id = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'The item id' };
const byId = { path: { id: Id } };
const Page = {
  limit: { type: 'integer', minimum: 1, maximum: service.MAX_LIMIT, default: service.DEFAULT_LIMIT },
  offset: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 },
};

export const router = new Router()
  .post('/', create, { summary: 'Create an item', status: 201, requestSchema: ItemInput, responseSchema: Item })
  .get('/', list, { summary: 'List items, oldest first', responseSchema: ItemPage, query: Page })
  .get('/{id}', read, { summary: 'Read an item', responseSchema: Item, ...byId })
  .put('/{id}', replace, { summary: 'Replace an item', requestSchema: ItemInput, responseSchema: Item, ...byId })
  .patch('/{id}', patch, {
    summary: 'Change some fields of an item',
    requestSchema: ItemPatch,
    responseSchema: Item,
    ...byId,
  })
  .delete('/{id}', remove, { summary: 'Delete an item', status: 204, ...byId });
