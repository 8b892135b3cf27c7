// Request and response bodies. Their JSON Schemas (the same as `items`
// publishes) are what the host validates requests against (422 naming the
// field) and publishes in OpenAPI; `service.validate` re-checks the same
// rules in JavaScript. `itemJson` and `pageJson` write the answers exactly
// as `items` does (a whole price as `12.0`, a 64-bit offset exactly).

export const NAME_MAX_CHARS = 100;
export const DESCRIPTION_MAX_CHARS = 1000;
/** `quantity` is a u32 in the Rust `items`; the same bounds here. */
export const QUANTITY_MAX = 2 ** 32 - 1;

// Not all white space: the service trims names (the schema says so too).
const name = {
  description: '1 to 100 characters, not all of them white space.',
  type: 'string',
  minLength: 1,
  maxLength: NAME_MAX_CHARS,
  pattern: '\\S',
};
const description = {
  description: 'Up to 1000 characters.',
  type: ['string', 'null'],
  maxLength: DESCRIPTION_MAX_CHARS,
  default: null,
};
const price = { description: 'A price, zero or more.', type: 'number', format: 'double', minimum: 0 };
const quantity = {
  description: 'How many are in stock.',
  type: 'integer',
  format: 'uint32',
  minimum: 0,
  maximum: QUANTITY_MAX,
};

/** `schema` that also accepts `null` (a field left as it is). */
const nullable = (schema, extra = {}) => ({
  ...schema,
  type: [...new Set([schema.type, 'null'].flat())],
  default: null,
  ...extra,
});

/** The body of `POST /items-js` and `PUT /items-js/{id}`: every field of an item. */
export const ItemInput = {
  title: 'ItemInput',
  description: 'The body of `POST /items-js` and `PUT /items-js/{id}`: every field of an item.',
  type: 'object',
  properties: { name, description, price, quantity: { ...quantity, default: 0 } },
  required: ['name', 'price'],
  additionalProperties: false,
};

/** The body of `PATCH /items-js/{id}`: only the fields to change; `"description": null` clears it. */
export const ItemPatch = {
  title: 'ItemPatch',
  description:
    'The body of `PATCH /items-js/{id}`: only the fields to change.\n`"description": null` clears the description.',
  type: 'object',
  properties: {
    name: nullable(name),
    description: nullable(description, { description: 'Up to 1000 characters; `null` clears it.' }),
    price: nullable(price),
    quantity: nullable(quantity),
  },
  additionalProperties: false,
};

/** An item as stored and answered. */
export const Item = {
  title: 'Item',
  description: 'An item as stored and answered.',
  type: 'object',
  properties: {
    id: { type: 'integer', format: 'int64' },
    name: { type: 'string' },
    description: { type: ['string', 'null'] },
    price: { type: 'number', format: 'double' },
    quantity: { type: 'integer', format: 'uint32', minimum: 0 },
    created_at: { description: 'RFC 3339, UTC.', type: 'string' },
    updated_at: { description: 'RFC 3339, UTC.', type: 'string' },
  },
  required: ['id', 'name', 'price', 'quantity', 'created_at', 'updated_at'],
};

/** One page of `GET /items-js`. */
export const ItemPage = {
  title: 'ItemPage',
  description: 'One page of `GET /items-js`.',
  type: 'object',
  properties: {
    items: { type: 'array', items: Item },
    total: { description: 'How many items exist in all.', type: 'integer', format: 'int64' },
    limit: { type: 'integer', format: 'uint32', minimum: 0 },
    offset: { type: 'integer', format: 'uint64', minimum: 0 },
  },
  required: ['items', 'total', 'limit', 'offset'],
};

/**
 * A double as `items` (serde_json) writes it: a whole number below 1e16
 * with `.0`, larger ones in exponent form.
 */
export function doubleJson(value) {
  if (!Number.isFinite(value)) return 'null';
  if (Number.isInteger(value)) {
    if (Math.abs(value) < 1e16) return `${Object.is(value, -0) ? '-0' : String(value)}.0`;
    return value.toExponential();
  }
  return String(value);
}

/** An integer column (a number, or a BigInt past 2^53) as exact JSON. */
const integerJson = (value) => (typeof value === 'bigint' ? value.toString() : String(value));

/** An item (a row of `items`) as the JSON text `items` answers. */
export function itemJson(item) {
  return (
    `{"id":${integerJson(item.id)},"name":${JSON.stringify(item.name)},` +
    `"description":${JSON.stringify(item.description ?? null)},"price":${doubleJson(item.price)},` +
    `"quantity":${integerJson(item.quantity)},"created_at":${JSON.stringify(item.created_at)},` +
    `"updated_at":${JSON.stringify(item.updated_at)}}`
  );
}

/** A page of items as JSON text; `offset` may be a BigInt (up to 2^64 - 1). */
export function pageJson({ items, total, limit, offset }) {
  return (
    `{"items":[${items.map(itemJson).join(',')}],"total":${integerJson(total)},` +
    `"limit":${integerJson(limit)},"offset":${integerJson(offset)}}`
  );
}
