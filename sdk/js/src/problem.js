// A failure the service reports to the client. Thrown from a handler, it is
// returned to the host as the WIT `problem`, which the host renders as its
// standard error body `{"error": {"code", "message", "request_id", "field"}}`.
// Anything else thrown is a bug: the instance traps and the host answers 500.

export class Problem extends Error {
  /**
   * @param {number} status 400 to 599
   * @param {string} code a stable, machine-readable code, e.g. `not_found`
   * @param {string} message a human-readable explanation
   * @param {string} [field] the request field concerned, for validation errors
   */
  constructor(status, code, message, field) {
    super(message);
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new TypeError(`a problem's status is 400 to 599, not ${status}`);
    }
    this.name = 'Problem';
    this.status = status;
    this.code = String(code);
    this.field = field === undefined || field === null ? undefined : String(field);
  }

  /** 400: the request is malformed. */
  static badRequest(message) {
    return new Problem(400, 'bad_request', message);
  }

  /** 404: the resource does not exist. */
  static notFound(message) {
    return new Problem(404, 'not_found', message);
  }

  /** 409: the request conflicts with the current state. */
  static conflict(message) {
    return new Problem(409, 'conflict', message);
  }

  /** 422: `field` fails validation. */
  static validation(field, message) {
    return new Problem(422, 'validation_error', message, field);
  }

  /** 500: the service failed (on purpose: a bug should just throw). */
  static internal(message) {
    return new Problem(500, 'internal_error', message);
  }

  /** 503: a dependency is unavailable; the client may retry. */
  static unavailable(message) {
    return new Problem(503, 'unavailable', message);
  }

  /** The WIT `problem` record. */
  toWit() {
    return { status: this.status, code: this.code, message: this.message, field: this.field };
  }
}
