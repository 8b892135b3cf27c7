import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fromValue, integer, real, rowObjects, toValue } from '../src/values.js';

test('JavaScript values become the WIT value of their type', () => {
  assert.deepEqual(toValue(null), { tag: 'null' });
  assert.deepEqual(toValue(undefined), { tag: 'null' });
  assert.deepEqual(toValue(true), { tag: 'boolean', val: true });
  assert.deepEqual(toValue(42), { tag: 'integer', val: 42n });
  assert.deepEqual(toValue(-0.5), { tag: 'real', val: -0.5 });
  assert.deepEqual(toValue(2n ** 62n), { tag: 'integer', val: 2n ** 62n });
  assert.deepEqual(toValue('é'), { tag: 'text', val: 'é' });
  const bytes = new Uint8Array([0, 255]);
  assert.deepEqual(toValue(bytes), { tag: 'blob', val: bytes });
  assert.deepEqual(toValue(bytes.buffer), { tag: 'blob', val: bytes });
  assert.deepEqual(toValue(new Date(0)), { tag: 'text', val: '1970-01-01T00:00:00.000Z' });
  assert.deepEqual(toValue(real(2)), { tag: 'real', val: 2 });
  assert.deepEqual(toValue(integer('7')), { tag: 'integer', val: 7n });
});

test('values that would lose precision or have no SQL type are refused', () => {
  assert.throws(() => toValue(2 ** 60), /not a safe integer/);
  assert.throws(() => toValue(2n ** 63n), /64-bit/);
  assert.throws(() => toValue(-(2n ** 63n) - 1n), /64-bit/);
  assert.throws(() => toValue({ price: 1 }), /cannot bind/);
  assert.throws(() => toValue(Symbol('s')), /cannot bind/);
});

test('rows come back as objects keyed by column', () => {
  const rows = rowObjects({
    columns: ['id', 'big', 'price', 'name', 'data', 'done', 'gone'],
    rows: [
      [
        { tag: 'integer', val: 1n },
        { tag: 'integer', val: 2n ** 60n },
        { tag: 'real', val: 9.5 },
        { tag: 'text', val: 'Widget' },
        { tag: 'blob', val: new Uint8Array([1]) },
        { tag: 'boolean', val: false },
        { tag: 'null' },
      ],
    ],
  });
  assert.deepEqual(rows, [
    { id: 1, big: 2n ** 60n, price: 9.5, name: 'Widget', data: new Uint8Array([1]), done: false, gone: null },
  ]);
  assert.throws(() => fromValue({ tag: 'date' }), /unknown SQL value/);
});
