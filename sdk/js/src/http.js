// The request a handler receives and the response it may return.

import { Problem } from './problem.js';

const METHODS = {
  get: 'GET',
  head: 'HEAD',
  post: 'POST',
  put: 'PUT',
  patch: 'PATCH',
  delete: 'DELETE',
  options: 'OPTIONS',
};

/** The WIT `method` variant of an HTTP method name. */
export function witMethod(name) {
  const upper = String(name).toUpperCase();
  const tag = Object.keys(METHODS).find((t) => METHODS[t] === upper);
  return tag ? { tag } : { tag: 'other', val: upper };
}

/** The HTTP method name of a WIT `method` variant. */
export function methodName(method) {
  return method.tag === 'other' ? method.val : METHODS[method.tag];
}

function first(pairs, name) {
  const found = pairs.find(([key]) => key === name);
  return found ? found[1] : undefined;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** One request the host routed to the service. */
export class Request {
  /** @param {object} wit the WIT `request` record */
  constructor(wit) {
    this.method = methodName(wit.method);
    /** The full path the client sent, without the query string. */
    this.path = wit.path;
    /** The route template that matched, relative to the mount point. */
    this.route = wit.route;
    /** The values of the template's `{name}` segments. */
    this.params = Object.fromEntries(wit.params);
    /** Query parameters, percent-decoded, in order: `[[name, value], …]`. */
    this.queryPairs = wit.query;
    /** Headers with lower-case names: `[[name, value], …]`. */
    this.headers = wit.headers;
    /** The body bytes (empty when there is none). */
    this.body = wit.body instanceof Uint8Array ? wit.body : Uint8Array.from(wit.body);
    this.requestId = wit.requestId;
    this.tenant = wit.tenant;
  }

  /** The path parameter `name`. */
  param(name) {
    return this.params[name];
  }

  /** The first query parameter called `name`. */
  query(name) {
    return first(this.queryPairs, name);
  }

  /** Every value of the query parameter `name`. */
  queryAll(name) {
    return this.queryPairs.filter(([key]) => key === name).map(([, value]) => value);
  }

  /** The first header called `name` (case-insensitive). */
  header(name) {
    return first(this.headers, String(name).toLowerCase());
  }

  /** The body as UTF-8 text. */
  text() {
    return decoder.decode(this.body);
  }

  /** The body parsed as JSON; a 422 problem on `body` when it is not JSON. */
  json() {
    try {
      return JSON.parse(this.text());
    } catch (error) {
      throw Problem.validation('body', `body is not valid JSON: ${error.message}`);
    }
  }
}

/** JSON.stringify that writes BigInts (from 64-bit columns) as numbers. */
export function toJson(value) {
  return JSON.stringify(value, (_, v) =>
    typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v,
  );
}

/** A response: status, headers (`[[name, value], …]`) and body bytes. */
export class Response {
  constructor(status, headers = [], body = new Uint8Array()) {
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw new TypeError(`a response's status is 100 to 599, not ${status}`);
    }
    this.status = status;
    this.headers = headers.map(([name, value]) => [String(name).toLowerCase(), String(value)]);
    this.body = typeof body === 'string' ? encoder.encode(body) : body;
  }

  /** `body` as JSON. */
  static json(body, status = 200) {
    return new Response(status, [['content-type', 'application/json']], toJson(body));
  }

  /** `body` as UTF-8 text. */
  static text(body, status = 200, contentType = 'text/plain; charset=utf-8') {
    return new Response(status, [['content-type', contentType]], String(body));
  }

  /** No body, e.g. 204. */
  static empty(status = 204) {
    return new Response(status);
  }

  /** This response with one more header. */
  withHeader(name, value) {
    this.headers.push([String(name).toLowerCase(), String(value)]);
    return this;
  }

  /** The WIT `response` record. */
  toWit() {
    return { status: this.status, headers: this.headers, body: this.body };
  }
}

/** Shorthand for `Response.json`. */
export const json = (body, status = 200) => Response.json(body, status);
