// Business logic: validation, patching, pagination, ids and the clock. Pure
// functions, unit-tested natively (test/service.test.js).

import { Problem } from '@berth/sdk';

import { DESCRIPTION_MAX_CHARS, NAME_MAX_CHARS, QUANTITY_MAX } from './schemas.js';

export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 100;

const I64_MAX = 2n ** 63n - 1n;
const U64_MAX = 2n ** 64n - 1n;

const chars = (text) => [...text].length;

/**
 * Checks every rule of a full item (`name`, `description`, `price`,
 * `quantity`; left-out optional fields take their defaults); the item with
 * its name trimmed. Unknown fields are refused by the host's schema; only
 * the known ones are kept.
 */
export function validate(input) {
  const { name, description = null, price, quantity = 0 } = input;
  if (typeof name !== 'string') throw Problem.validation('name', 'name must be a string');
  // Trimmed of what the schema's `\S` calls white space: ECMA-262's `\s`,
  // the dialect of JSON Schema patterns, is exactly what String.prototype.trim
  // takes. So a name the schema (and the host) accepts never ends up empty.
  const trimmed = name.trim();
  const length = chars(trimmed);
  if (length === 0 || length > NAME_MAX_CHARS) {
    throw Problem.validation('name', `name must be 1 to ${NAME_MAX_CHARS} characters`);
  }
  if (description !== null) {
    if (typeof description !== 'string' || chars(description) > DESCRIPTION_MAX_CHARS) {
      throw Problem.validation(
        'description',
        `description must be at most ${DESCRIPTION_MAX_CHARS} characters`,
      );
    }
  }
  if (typeof price !== 'number' || !Number.isFinite(price) || price < 0) {
    throw Problem.validation('price', 'price must be a number, zero or more');
  }
  if (!Number.isInteger(quantity) || quantity < 0 || quantity > QUANTITY_MAX) {
    throw Problem.validation('quantity', `quantity must be an integer from 0 to ${QUANTITY_MAX}`);
  }
  return { name: trimmed, description, price, quantity };
}

// The tokens of a flat JSON object: strings, numbers and literals.
const TOKENS = /"(?:[^"\\]|\\.)*"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null/g;

/**
 * What JSON.parse cannot tell but `items` refuses, in a body the host has
 * already validated against `ItemInput` or `ItemPatch` (an object of
 * scalars): a field given twice (422 on `body`). A `quantity` written
 * `3.0` is the integer 3, as JSON Schema (and JSON.parse) read it.
 */
export function checkBodyText(text) {
  const tokens = text.match(TOKENS) ?? [];
  const seen = new Set();
  for (let i = 0; i + 1 < tokens.length; i += 2) {
    const key = JSON.parse(tokens[i]);
    if (seen.has(key)) throw Problem.validation('body', `body: duplicate field \`${key}\``);
    seen.add(key);
  }
}

/**
 * Applies a patch to the current state of an item and validates the result.
 * A field left out or `null` is kept, but `"description": null` clears it.
 */
export function applyPatch(current, patch) {
  const has = (field) => Object.prototype.hasOwnProperty.call(patch, field);
  return validate({
    name: patch.name ?? current.name,
    description: has('description') ? patch.description : current.description,
    price: patch.price ?? current.price,
    quantity: patch.quantity ?? current.quantity,
  });
}

/** An unsigned decimal as Rust's `str::parse` reads it (an optional `+`). */
const unsigned = (raw) => (/^\+?[0-9]+$/.test(raw) ? BigInt(raw) : undefined);

/**
 * Parses the `limit` and `offset` query parameters: `limit` 1 to 100 (20
 * when absent), `offset` 0 to 2^64 - 1 (0 when absent; a BigInt past 2^53).
 */
export function pagination(limit, offset) {
  let pageLimit = DEFAULT_LIMIT;
  if (limit !== undefined) {
    const parsed = unsigned(limit);
    if (parsed === undefined || parsed < 1n || parsed > BigInt(MAX_LIMIT)) {
      throw Problem.validation('limit', `limit must be an integer from 1 to ${MAX_LIMIT}`);
    }
    pageLimit = Number(parsed);
  }
  let pageOffset = 0;
  if (offset !== undefined) {
    const parsed = unsigned(offset);
    if (parsed === undefined || parsed > U64_MAX) {
      throw Problem.validation('offset', 'offset must be an integer, zero or more');
    }
    pageOffset = Number.isSafeInteger(Number(parsed)) ? Number(parsed) : parsed;
  }
  return { limit: pageLimit, offset: pageOffset };
}

/** The offset as bound in SQL: past the largest BIGINT, the largest BIGINT. */
export const sqlOffset = (offset) => (BigInt(offset) > I64_MAX ? I64_MAX : BigInt(offset));

/** Parses the `{id}` path parameter: a positive 64-bit integer (a BigInt). */
export function parseId(raw) {
  const parsed = typeof raw === 'string' && /^[+-]?[0-9]+$/.test(raw) ? BigInt(raw) : 0n;
  if (parsed < 1n || parsed > I64_MAX) {
    throw Problem.validation('id', 'id must be a positive integer');
  }
  return parsed;
}

/** The current time as RFC 3339 with milliseconds, UTC (`…T10:00:00.000Z`). */
export const now = (date = new Date()) => date.toISOString();
