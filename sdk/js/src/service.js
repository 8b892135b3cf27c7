// A service: the manifest `describe()` returns and the request handling of
// `handle()`. The entry module exports it as the WIT `handler` interface:
//
//   export const handler = service({
//     name: 'hello-js', version: '1.0.0', description: 'Greets by name.',
//     router,
//     settings: [{ key: 'greeting', description: '…', default: 'Hello' }],
//     migrations: [{ version: 1, name: 'create items', sql: '…', dialects: { postgres: '…' } }],
//     capabilities: ['database'],
//   });

import { DatabaseError } from './db.js';
import { Request } from './http.js';
import * as log from './log.js';
import { Problem } from './problem.js';

const CAPABILITIES = new Set(['database', 'outbound-http']);
const DIALECTS = new Set(['sqlite', 'postgres']);

function migration(m) {
  const dialects = Object.entries(m.dialects ?? {});
  for (const [dialect] of dialects) {
    if (!DIALECTS.has(dialect)) throw new TypeError(`migration ${m.version}: unknown dialect ${dialect}`);
  }
  return { version: m.version, name: m.name, sql: m.sql, dialectSql: dialects };
}

function setting(s) {
  return { key: s.key, description: s.description ?? '', default: s.default ?? undefined };
}

/**
 * What `handle` throws to make the instance trap on `error`: componentize-js
 * lowers a thrown value's `payload` as the WIT `problem`, and reading this
 * one's `status` throws `reason`, which aborts the call. (Thrown as is, an
 * Error carrying `status`, `code` and `message` fields, as many client errors
 * do, would be lowered as a problem and sent to the client.)
 */
export function trap(error) {
  const what = error instanceof Error ? `${error.name}: ${error.message}` : `non-Error ${String(error)}`;
  const reason = new Error(`unhandled ${what}`);
  const payload = Object.defineProperty({}, 'status', {
    get() {
      throw reason;
    },
  });
  return Object.defineProperty({ reason }, 'payload', { value: payload });
}

/** The `handler` export of a service described by `definition`. */
export function service(definition) {
  const { name, version, description = '', router } = definition;
  const capabilities = definition.capabilities ?? [];
  for (const capability of capabilities) {
    if (!CAPABILITIES.has(capability)) {
      throw new TypeError(`unknown capability ${capability}; known: ${[...CAPABILITIES].join(', ')}`);
    }
  }
  const manifest = () => ({
    name,
    version,
    description,
    routes: router.describe(),
    migrations: (definition.migrations ?? []).map(migration),
    settings: (definition.settings ?? []).map(setting),
    capabilities,
  });

  return {
    describe: manifest,

    // A response, or `{tag: 'err', val: problem}` for a thrown Problem. Any
    // other error is logged and the instance traps (see `trap`): the host
    // answers 500 `service_failed` (a bug is not a problem to report).
    async handle(wit) {
      const request = new Request(wit);
      try {
        return (await router.dispatch(request)).toWit();
      } catch (error) {
        if (error instanceof DatabaseError) {
          log.warn('database error', { kind: error.kind, detail: error.detail });
        }
        if (error instanceof Problem) {
          return { tag: 'err', val: error.toWit() };
        }
        log.error('unhandled error', { error: String(error), stack: error?.stack ?? '' });
        throw trap(error);
      }
    },
  };
}
