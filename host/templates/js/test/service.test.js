import assert from 'node:assert/strict';
import { test } from 'node:test';

import { tidy } from '../src/service.js';

test('text is trimmed and blank text refused', () => {
  assert.equal(tidy('  hello '), 'hello');
  assert.throws(() => tidy(' \t'), (problem) => problem.field === 'text');
});
