import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Problem } from '@berth/sdk';

import { ItemInput, ItemPatch, doubleJson, itemJson, pageJson } from '../src/schemas.js';
import {
  DEFAULT_LIMIT,
  applyPatch,
  checkBodyText,
  now,
  pagination,
  parseId,
  sqlOffset,
  validate,
} from '../src/service.js';

const input = () => ({ name: 'Widget', description: 'A thing', price: 9.5, quantity: 3 });

/** Asserts that `call` throws a 422 Problem naming `field`. */
function refuses(call, field) {
  assert.throws(call, (e) => e instanceof Problem && e.status === 422 && e.code === 'validation_error' && e.field === field);
}

test('a valid item passes with its name trimmed', () => {
  assert.deepEqual(validate({ ...input(), name: '  Widget \n' }), input());
});

test('optional fields take their defaults and unknown ones are dropped', () => {
  assert.deepEqual(validate({ name: 'Bare', price: 0, colour: 'red' }), {
    name: 'Bare',
    description: null,
    price: 0,
    quantity: 0,
  });
});

test('an empty or overlong name is refused naming the field', () => {
  for (const name of ['', '   ', '\u00a0\u2003', 'x'.repeat(101), undefined, 7]) {
    refuses(() => validate({ ...input(), name }), 'name');
  }
  assert.equal(validate({ ...input(), name: 'é'.repeat(100) }).name.length, 100, 'characters, not bytes');
  assert.equal(validate({ ...input(), name: '😀'.repeat(100) }).name, '😀'.repeat(100), 'code points');
});

test('a negative, infinite or missing price is refused', () => {
  for (const price of [-0.01, Infinity, NaN, undefined, 'free']) {
    refuses(() => validate({ ...input(), price }), 'price');
  }
  assert.equal(validate({ ...input(), price: 0 }).price, 0);
});

test('a quantity must be a u32', () => {
  for (const quantity of [-2, 1.5, 2 ** 32, '3', null]) {
    refuses(() => validate({ ...input(), quantity }), 'quantity');
  }
  assert.equal(validate({ ...input(), quantity: 2 ** 32 - 1 }).quantity, 2 ** 32 - 1);
});

test('an overlong description is refused', () => {
  refuses(() => validate({ ...input(), description: 'd'.repeat(1001) }), 'description');
  assert.equal(validate({ ...input(), description: 'd'.repeat(1000) }).description.length, 1000);
});

test('a patch changes only the given fields', () => {
  assert.deepEqual(applyPatch(input(), { price: 1.25 }), { ...input(), price: 1.25 });
  assert.deepEqual(applyPatch(input(), { name: null, price: null, quantity: null }), input());
});

test('a patch with null description clears it; left out, it stays', () => {
  assert.equal(applyPatch(input(), { description: null }).description, null);
  assert.equal(applyPatch(input(), {}).description, 'A thing');
});

test('a patch is validated after merging', () => {
  refuses(() => applyPatch(input(), { name: ' ' }), 'name');
  refuses(() => applyPatch(input(), { price: -5 }), 'price');
});

test('pagination has defaults and bounds', () => {
  assert.deepEqual(pagination(undefined, undefined), { limit: DEFAULT_LIMIT, offset: 0 });
  assert.deepEqual(pagination('100', '40'), { limit: 100, offset: 40 });
  assert.deepEqual(pagination('1', '+3'), { limit: 1, offset: 3 });
  for (const bad of ['0', '101', '-1', 'ten', '', '1.5', ' 5']) {
    refuses(() => pagination(bad, undefined), 'limit');
  }
  for (const bad of ['-3', 'x', '', '18446744073709551616']) {
    refuses(() => pagination(undefined, bad), 'offset');
  }
  assert.deepEqual(pagination(undefined, '18446744073709551615'), {
    limit: DEFAULT_LIMIT,
    offset: 18446744073709551615n,
  });
});

test('an offset past the largest BIGINT is bound as the largest BIGINT', () => {
  assert.equal(sqlOffset(40), 40n);
  assert.equal(sqlOffset(18446744073709551615n), 2n ** 63n - 1n);
});

test('ids are positive 64-bit integers', () => {
  assert.equal(parseId('42'), 42n);
  assert.equal(parseId('+007'), 7n);
  assert.equal(parseId('9223372036854775807'), 2n ** 63n - 1n);
  for (const bad of [undefined, '', '0', '-1', 'abc', '1.0', '9223372036854775808']) {
    refuses(() => parseId(bad), 'id');
  }
});

test('timestamps are RFC 3339 UTC with milliseconds', () => {
  assert.equal(now(new Date(Date.UTC(2026, 10, 26, 10, 0, 0, 7))), '2026-11-26T10:00:00.007Z');
  assert.match(now(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test('items are written as items writes them', () => {
  const item = {
    id: 1,
    name: 'Wid"get',
    description: null,
    price: 12,
    quantity: 3,
    created_at: '2026-11-26T10:00:00.000Z',
    updated_at: '2026-11-26T10:00:00.000Z',
  };
  const text = itemJson(item);
  assert.equal(
    text,
    '{"id":1,"name":"Wid\\"get","description":null,"price":12.0,"quantity":3,' +
      '"created_at":"2026-11-26T10:00:00.000Z","updated_at":"2026-11-26T10:00:00.000Z"}',
  );
  assert.deepEqual(JSON.parse(text), item);
  const page = pageJson({ items: [item], total: 1, limit: 20, offset: 18446744073709551615n });
  assert.ok(page.endsWith('"total":1,"limit":20,"offset":18446744073709551615}'), page);
  assert.deepEqual(Object.keys(JSON.parse(page)), ['items', 'total', 'limit', 'offset']);
});

test('doubles are written as serde_json writes them', () => {
  const cases = [
    [0, '0.0'],
    [12, '12.0'],
    [9.5, '9.5'],
    [0.1, '0.1'],
    [1e15, '1000000000000000.0'],
    [1e16, '1e+16'],
    [1e300, '1e+300'],
    [1.5e-7, '1.5e-7'],
  ];
  for (const [value, text] of cases) assert.equal(doubleJson(value), text, String(value));
});

test('the request schemas refuse unknown fields and let a patch say null', () => {
  assert.equal(ItemInput.additionalProperties, false);
  assert.deepEqual(ItemInput.required, ['name', 'price']);
  assert.equal(ItemPatch.additionalProperties, false);
  assert.equal(ItemPatch.required, undefined);
  for (const field of ['name', 'description', 'price', 'quantity']) {
    assert.ok(ItemPatch.properties[field].type.includes('null'), field);
    assert.equal(new Set(ItemPatch.properties[field].type).size, ItemPatch.properties[field].type.length);
  }
  assert.equal(ItemInput.properties.quantity.maximum, 2 ** 32 - 1);
});

test('names are trimmed of what the schema calls white space, and only that', () => {
  const name = (text) => validate({ ...input(), name: text }).name;
  const spaces = '\t\n\v\f\r \u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeff';
  assert.equal(name(`${spaces}a b${spaces}`), 'a b');
  assert.match(spaces, /^\s+$/, 'all of them JSON Schema (ECMA-262) white space');
  for (const kept of ['\u001e', '\u001c\u001f', '\u0085', '\u200b', '\u180e']) {
    assert.equal(name(kept), kept, 'not white space to the schema, so kept');
    assert.match(kept, /\S/);
  }
  assert.equal(name('\t\n\u001e'), '\u001e');
});

test('a field given twice is refused; an integral float is an integer', () => {
  refuses(() => checkBodyText('{"name":"a","price":1,"name":"b"}'), 'body');
  refuses(() => checkBodyText('{"name":"a","na\\u006de":"b"}'), 'body');
  for (const text of [
    '{"name":"a","price":1.5,"quantity":3}',
    '{"name":"quantity","description":"\\"quantity\\": 1.5, \\\\","price":1e3}',
    '{"quantity":null,"description":null}',
    '{"name":"a","price":1,"quantity":3.0}',
    '{"quantity": 3e0, "price": 1}',
    '{}',
  ]) {
    assert.doesNotThrow(() => checkBodyText(text), text);
  }
});
