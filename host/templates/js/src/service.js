// Business logic: pure functions, unit-tested natively (`berth build` runs
// test/*.test.js first).

import { Problem } from '@berth/sdk';

/** A note's text with its surrounding whitespace removed; blank is refused. */
export function tidy(text) {
  const tidied = text.trim();
  if (tidied === '') throw Problem.validation('text', 'text must not be blank');
  return tidied;
}
