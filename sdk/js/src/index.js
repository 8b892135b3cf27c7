// Write berth services in JavaScript: see ../README.md.

export * as db from './db.js';
export { DatabaseError } from './db.js';
export { Request, Response, json } from './http.js';
export * as log from './log.js';
export { Problem } from './problem.js';
export { Router } from './router.js';
export { service } from './service.js';
export * as settings from './settings.js';
