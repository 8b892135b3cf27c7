import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Problem } from '@berth/sdk';

import { greet } from '../src/greeting.js';

test('greets with the configured greeting', () => {
  assert.equal(greet('Howdy', 'ada').message, 'Howdy, ada!');
});

test('falls back to the default greeting', () => {
  assert.deepEqual(greet(undefined, ' ada '), { message: 'Hello, ada!', version: '1.0.0' });
});

test('refuses an empty or overlong name', () => {
  assert.throws(() => greet(undefined, '  '), (e) => e instanceof Problem && e.field === 'name');
  assert.throws(() => greet(undefined, 'x'.repeat(101)), (e) => e.status === 422);
  assert.equal(greet(undefined, 'é'.repeat(100)).version, '1.0.0', 'characters, not bytes');
});
