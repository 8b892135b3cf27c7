// Request and response bodies and parameters, as JSON Schemas: what the host
// checks requests against and publishes in `/openapi.json`.

export const NoteInput = {
  title: 'NoteInput',
  type: 'object',
  properties: { text: { type: 'string', minLength: 1, maxLength: 280, description: '1 to 280 characters.' } },
  required: ['text'],
  additionalProperties: false,
};

export const Note = {
  title: 'Note',
  type: 'object',
  properties: { id: { type: 'integer' }, text: { type: 'string' } },
  required: ['id', 'text'],
};

export const NoteId = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: "The note's id" };
