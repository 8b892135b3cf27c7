// The routes, relative to the service's mount point (`/{{name}}`), and their
// handlers, which get their typed arguments `{ path, query, body }`.

import { Problem, Response, Router, db } from '@berth/sdk';

import * as models from './models.js';
import { Note, NoteId, NoteInput } from './schemas.js';
import { tidy } from './service.js';

function create(request, { body }) {
  const note = models.insert(db, tidy(body.text));
  return Response.json(note, 201).withHeader('location', `${request.path.replace(/\/+$/, '')}/${note.id}`);
}

function read(_request, { path }) {
  const note = models.find(db, path.id);
  if (note === undefined) throw Problem.notFound(`note ${path.id} does not exist`);
  return note;
}

export const router = new Router()
  .post('/', create, { summary: 'Write a note', status: 201, requestSchema: NoteInput, responseSchema: Note })
  .get('/{id}', read, { summary: 'Read a note', responseSchema: Note, path: { id: NoteId } });
