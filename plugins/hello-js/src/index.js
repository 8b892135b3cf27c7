// `hello-js`: the `hello` service in JavaScript. `GET /hello-js/{name}`
// greets with the deployment's `greeting` setting and logs who it greeted;
// no database.

import { Router, log, service, settings } from '@berth/sdk';

import { DEFAULT_GREETING, Greeting, VERSION, greet } from './greeting.js';

function respond(name) {
  const greeting = greet(settings.get('greeting'), name);
  log.info('greeted', { name });
  return greeting;
}

const router = new Router()
  .get('/', () => respond('world'), { summary: 'Greet the world', responseSchema: Greeting })
  .get('/{name}', (request) => respond(request.param('name')), {
    summary: 'Greet someone by name',
    responseSchema: Greeting,
  });

export const handler = service({
  name: 'hello-js',
  version: VERSION,
  description: 'Greets by name.',
  router,
  settings: [
    { key: 'greeting', description: 'The word the greeting starts with', default: DEFAULT_GREETING },
  ],
});
