// Routes declared once: the same table answers `describe()` and dispatches
// `handle()`.
//
//   const router = new Router();
//   router.get('/{id}', read, { summary: 'Read an item', responseSchema: Item });
//   router.post('/', create, { summary: 'Create an item', status: 201, requestSchema: NewItem });
//
// Paths are relative to the service's mount point (`/<name>`): `/` is the
// mount point itself, `{name}` captures one segment, `{*name}` the rest.
// A handler gets the `Request` and returns (or resolves to) a `Response`,
// `undefined` (an empty body with the route's status) or anything else,
// which is answered as JSON with the route's status.

import { Problem } from './problem.js';
import { Response, witMethod } from './http.js';

const schemaText = (schema) =>
  schema === undefined || schema === null
    ? undefined
    : typeof schema === 'string'
      ? schema
      : JSON.stringify(schema);

export class Router {
  constructor() {
    this.routes = [];
  }

  /**
   * Declares `handler` for `method` on the path template `path`.
   * @param {object} [options]
   * @param {string} [options.summary] one line for OpenAPI (default: the handler's name)
   * @param {number} [options.status] the success status (default 200)
   * @param {object|string} [options.requestSchema] JSON Schema of the body; the host
   *   validates bodies against it before the service runs (422 naming the field)
   * @param {object|string} [options.responseSchema] JSON Schema of the answer, for OpenAPI
   */
  route(method, path, handler, options = {}) {
    if (typeof handler !== 'function') {
      throw new TypeError(`${method} ${path}: the handler is not a function`);
    }
    const upper = String(method).toUpperCase();
    if (this.routes.some((r) => r.method === upper && r.path === path)) {
      throw new TypeError(`${upper} ${path} is declared twice`);
    }
    this.routes.push({
      method: upper,
      path,
      handler,
      summary: options.summary ?? handler.name ?? '',
      status: options.status ?? 200,
      requestSchema: schemaText(options.requestSchema),
      responseSchema: schemaText(options.responseSchema),
    });
    return this;
  }

  get(path, handler, options) {
    return this.route('GET', path, handler, options);
  }

  post(path, handler, options) {
    return this.route('POST', path, handler, options);
  }

  put(path, handler, options) {
    return this.route('PUT', path, handler, options);
  }

  patch(path, handler, options) {
    return this.route('PATCH', path, handler, options);
  }

  delete(path, handler, options) {
    return this.route('DELETE', path, handler, options);
  }

  /** The WIT `route` records of the manifest. */
  describe() {
    return this.routes.map((r) => ({
      method: witMethod(r.method),
      path: r.path,
      summary: r.summary,
      successStatus: r.status,
      requestSchema: r.requestSchema,
      responseSchema: r.responseSchema,
    }));
  }

  /** Calls the handler of the route the host matched; its `Response`. */
  async dispatch(request) {
    const route = this.routes.find((r) => r.method === request.method && r.path === request.route);
    if (!route) {
      throw Problem.notFound(`this service has no route ${request.method} ${request.route}`);
    }
    const result = await route.handler(request);
    if (result instanceof Response) return result;
    if (result === undefined) return Response.empty(route.status);
    return Response.json(result, route.status);
  }
}
