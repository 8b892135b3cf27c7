// `{{name}}`: a berth service in the seed's layout: `models.js` (its table
// and migrations), `schemas.js` (request and response bodies), `routes.js`
// (what it serves) and `service.js` (business logic, unit-tested natively).

import { service } from '@berth/sdk';

import { MIGRATIONS } from './models.js';
import { router } from './routes.js';

export const handler = service({
  name: '{{name}}',
  version: '0.1.0',
  description: 'Notes: write one, read it back.',
  router,
  migrations: MIGRATIONS,
  capabilities: ['database'],
});
