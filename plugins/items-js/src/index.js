// `items-js`: the example service of `plugins/items`, in JavaScript. A CRUD
// API over items stored in the service's own database, mounted at
// `/items-js` and answering exactly as `items` and `items-py` do.
//
// The layout follows the FastAPI seed: `models.js` (table and migrations),
// `schemas.js` (request and response bodies), `routes.js` (what the service
// serves) and `service.js` (business logic, unit-tested natively).

import { service } from '@berth/sdk';

import { MIGRATIONS } from './models.js';
import { router } from './routes.js';

export const VERSION = '1.0.0';

export const handler = service({
  name: 'items-js',
  version: VERSION,
  description: 'Create, read, update, delete and list items (in JavaScript).',
  router,
  migrations: MIGRATIONS,
  capabilities: ['database'],
});
