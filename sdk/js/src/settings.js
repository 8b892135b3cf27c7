// The deployment's configuration: what the operator set for this service
// (and tenant), over the defaults the service declared in its manifest.

import { get as lookup, getAll } from 'berth:service/settings@0.1.0';

/** The value of `key`, or `fallback` (undefined) when nothing sets it. */
export function get(key, fallback) {
  const value = lookup(key);
  return value === undefined || value === null ? fallback : value;
}

/** Every key that has a value, as an object. */
export function all() {
  return Object.fromEntries(getAll());
}
