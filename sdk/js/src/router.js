// Routes declared once: the same table answers `describe()` and dispatches
// `handle()`.
//
//   const router = new Router();
//   router.get('/{id}', read, { summary: 'Read an item', responseSchema: Item });
//   router.post('/', create, { summary: 'Create an item', status: 201, requestSchema: NewItem });
//
// Paths are relative to the service's mount point (`/<name>`): `/` is the
// mount point itself, `{name}` captures one segment, `{*name}` the rest.
// A handler gets the `Request` and its typed arguments `{ path, query, body }`
// (parameters converted to the types their schemas declare, the body
// parsed), and returns (or resolves to) a `Response`, `undefined` (an empty
// body with the route's status) or anything else, which is answered as JSON
// with the route's status.
//
//   router.get('/{id}', ({ path }) => find(path.id), {
//     path: { id: { type: 'integer', minimum: 1 } },
//     query: { verbose: { type: 'boolean', default: false } },
//   });
//
// Declared parameters are published in OpenAPI and checked by the host
// before the service runs (422 listing every one that does not fit); a
// query parameter is optional when its schema has a `default`, or when it
// is listed in `options.optional`.

import { Problem } from './problem.js';
import { Response, witMethod } from './http.js';

const PARAM_TYPES = new Set(['integer', 'number', 'boolean', 'string']);

/** The WIT `param` records of one location (`path` or `query`). */
function declaredParams(route, location, declared = {}, optional = []) {
  return Object.entries(declared).map(([name, schema]) => {
    if (!schema || !PARAM_TYPES.has(schema.type)) {
      throw new TypeError(
        `${route}: ${location} parameter ${name} needs a schema whose type is integer, number, boolean or string`,
      );
    }
    const { description = '', ...rest } = schema;
    if (rest.type === 'integer') {
      // A handler gets a Number: integers beyond 2^53 would not be the ones checked.
      if (rest.minimum === undefined && rest.exclusiveMinimum === undefined) rest.minimum = -Number.MAX_SAFE_INTEGER;
      if (rest.maximum === undefined && rest.exclusiveMaximum === undefined) rest.maximum = Number.MAX_SAFE_INTEGER;
    }
    return {
      name,
      location,
      required: location === 'path' || !('default' in schema || optional.includes(name)),
      description,
      schema: JSON.stringify(rest),
    };
  });
}

/** A parameter's text as the type its schema declares (the host has checked it). */
function convert(text, schema) {
  switch (schema.type) {
    case 'integer':
    case 'number':
      return Number(text);
    case 'boolean':
      return text === 'true';
    default:
      return text;
  }
}

/** The declared parameters of `location`, each with its schema parsed once. */
const parsedParams = (params, location) =>
  params.filter((p) => p.location === location).map((p) => ({ name: p.name, schema: JSON.parse(p.schema) }));

/** The parameters read with `lookup`, typed, with their defaults. */
function typedParams(params, lookup) {
  const values = {};
  for (const { name, schema } of params) {
    const text = lookup(name);
    if (text !== undefined) values[name] = convert(text, schema);
    else if ('default' in schema) values[name] = schema.default;
  }
  return values;
}

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
   * @param {object} [options.path] path parameters: `{ name: JSON Schema }`
   * @param {object} [options.query] query parameters: `{ name: JSON Schema }`
   * @param {string[]} [options.optional] query parameters that may be left out
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
      params: [
        ...declaredParams(`${upper} ${path}`, 'path', options.path),
        ...declaredParams(`${upper} ${path}`, 'query', options.query, options.optional),
      ],
    });
    const route = this.routes[this.routes.length - 1];
    route.pathParams = parsedParams(route.params, 'path');
    route.queryParams = parsedParams(route.params, 'query');
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
      params: r.params,
    }));
  }

  /** Calls the handler of the route the host matched; its `Response`. */
  async dispatch(request) {
    const route = this.routes.find((r) => r.method === request.method && r.path === request.route);
    if (!route) {
      throw Problem.notFound(`this service has no route ${request.method} ${request.route}`);
    }
    const args = {
      path: typedParams(route.pathParams, (n) => request.param(n)),
      query: typedParams(route.queryParams, (n) => request.query(n)),
      get body() {
        return route.requestSchema === undefined ? undefined : request.json();
      },
    };
    const result = await route.handler(request, args);
    if (result instanceof Response) return result;
    if (result === undefined) return Response.empty(route.status);
    return Response.json(result, route.status);
  }
}
