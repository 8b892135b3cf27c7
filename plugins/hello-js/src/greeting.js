// Business logic: composing a greeting (unit-tested natively, see test/).

import { Problem } from '@berth/sdk';

export const VERSION = '1.0.0';

/** The greeting used when the deployment sets none. */
export const DEFAULT_GREETING = 'Hello';

const MAX_NAME_CHARS = 100;

/** The JSON Schema of a greeting, as published in OpenAPI. */
export const Greeting = {
  title: 'Greeting',
  description: 'A greeting, as answered to the client.',
  type: 'object',
  properties: {
    message: { description: 'The greeting text.', type: 'string' },
    version: { description: 'The version of the service that answered.', type: 'string' },
  },
  required: ['message', 'version'],
};

/** Greets `name` with `greeting` (or the default). */
export function greet(greeting, name) {
  const trimmed = name.trim();
  if (trimmed === '') {
    throw Problem.validation('name', 'name must not be empty');
  }
  if ([...trimmed].length > MAX_NAME_CHARS) {
    throw Problem.validation('name', `name must be at most ${MAX_NAME_CHARS} characters`);
  }
  return { message: `${greeting ?? DEFAULT_GREETING}, ${trimmed}!`, version: VERSION };
}
