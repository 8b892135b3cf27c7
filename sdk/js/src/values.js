// JavaScript values ↔ the WIT `value` variant of the database interface.
//
//   null, undefined   → null
//   true / false      → boolean
//   integral number   → integer (a safe integer; else a TypeError)
//   other number      → real (use `real(2)` for a whole number in a REAL column)
//   bigint            → integer (within 64 bits)
//   string            → text
//   Uint8Array, ArrayBuffer → blob
//   Date              → text (ISO 8601)
//
// Read back, an integer is a number when it is a safe integer and a bigint
// otherwise; a blob is a Uint8Array.

const MIN_S64 = -(2n ** 63n);
const MAX_S64 = 2n ** 63n - 1n;
const TAGS = new Set(['null', 'integer', 'real', 'text', 'blob', 'boolean']);

/** A parameter bound as an integer. */
export function integer(value) {
  return { tag: 'integer', val: toS64(typeof value === 'bigint' ? value : BigInt(value)) };
}

/** A parameter bound as a double-precision float, even when it is whole. */
export function real(value) {
  return { tag: 'real', val: Number(value) };
}

function toS64(value) {
  if (value < MIN_S64 || value > MAX_S64) {
    throw new TypeError(`${value} does not fit in a 64-bit integer`);
  }
  return value;
}

/** The WIT `value` of a JavaScript value. */
export function toValue(value) {
  if (value === null || value === undefined) return { tag: 'null' };
  switch (typeof value) {
    case 'boolean':
      return { tag: 'boolean', val: value };
    case 'number':
      if (Number.isInteger(value)) {
        if (!Number.isSafeInteger(value)) {
          throw new TypeError(`${value} is not a safe integer: pass a BigInt or real(${value})`);
        }
        return { tag: 'integer', val: BigInt(value) };
      }
      return { tag: 'real', val: value };
    case 'bigint':
      return { tag: 'integer', val: toS64(value) };
    case 'string':
      return { tag: 'text', val: value };
    default:
      break;
  }
  if (value instanceof Uint8Array) return { tag: 'blob', val: value };
  if (value instanceof ArrayBuffer) return { tag: 'blob', val: new Uint8Array(value) };
  if (value instanceof Date) return { tag: 'text', val: value.toISOString() };
  if (typeof value === 'object' && TAGS.has(value.tag)) return value;
  throw new TypeError(`cannot bind ${Object.prototype.toString.call(value)} as a SQL value`);
}

/** The JavaScript value of a WIT `value`. */
export function fromValue(value) {
  switch (value.tag) {
    case 'null':
      return null;
    case 'integer': {
      const n = Number(value.val);
      return Number.isSafeInteger(n) ? n : value.val;
    }
    case 'real':
    case 'text':
    case 'boolean':
      return value.val;
    case 'blob':
      return value.val instanceof Uint8Array ? value.val : Uint8Array.from(value.val);
    default:
      throw new TypeError(`unknown SQL value ${value.tag}`);
  }
}

/** The rows of a WIT `rows` record as objects keyed by column name. */
export function rowObjects({ columns, rows }) {
  return rows.map((row) => {
    const object = {};
    columns.forEach((column, i) => {
      object[column] = fromValue(row[i]);
    });
    return object;
  });
}
