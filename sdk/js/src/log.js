// Leveled, structured messages into the host's log, inside the span of the
// request being handled (with its request id, tenant and service).
//
//   log.info('item created', { id: 42 });

import { log as emit } from 'berth:service/log@0.1.0';

function fieldsOf(fields) {
  if (!fields) return [];
  return Object.entries(fields).map(([key, value]) => [
    key,
    typeof value === 'string' ? value : stringify(value),
  ]);
}

function stringify(value) {
  if (value instanceof Error) return value.stack || String(value);
  if (value === undefined || typeof value === 'bigint' || typeof value === 'symbol') {
    return String(value);
  }
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function at(level) {
  return (message, fields) => emit(level, String(message), fieldsOf(fields));
}

export const trace = at('trace');
export const debug = at('debug');
export const info = at('info');
export const warn = at('warn');
export const error = at('error');
