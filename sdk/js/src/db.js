// The service's own database namespace. Placeholders are `$1`, `$2`, … on
// every dialect; parameters are converted as `values.js` says; rows come back
// as objects keyed by column name.
//
//   const rows = db.query('SELECT id, name FROM items WHERE price < $1', [10]);
//   const item = db.first('SELECT * FROM items WHERE id = $1', [id]);
//   const changed = db.execute('DELETE FROM items WHERE id = $1', [id]);
//   const id = await db.transaction((tx) => { … tx.execute(…) … return id; });
//
// A failed statement throws a `DatabaseError`, which is a `Problem`: left
// uncaught, the client gets 409 for a violated constraint, 503 when the
// database is unavailable and 500 otherwise, and the database's own message
// goes to the log only.

import {
  begin,
  currentDialect,
  execute as witExecute,
  query as witQuery,
  Transaction,
} from 'berth:service/database@0.1.0';

import { Problem } from './problem.js';
import { rowObjects, toValue } from './values.js';

export { integer, real } from './values.js';

const PUBLIC = {
  'constraint-violation': [409, 'conflict', 'the request conflicts with existing data'],
  unavailable: [503, 'unavailable', 'the database is unavailable, retry later'],
  'limit-exceeded': [500, 'limit_exceeded', 'a database limit was exceeded'],
};
const OTHER = [500, 'internal_error', 'the service failed to query its database'];

/** A statement failed: `kind` is the WIT error's case, `detail` the database's message. */
export class DatabaseError extends Problem {
  constructor(kind, detail) {
    const [status, code, message] = PUBLIC[kind] ?? OTHER;
    super(status, code, message);
    this.name = 'DatabaseError';
    this.kind = kind;
    this.detail = detail;
  }
}

/** Runs `call`, turning the WIT `error` it throws into a DatabaseError. */
function run(call) {
  try {
    return call();
  } catch (error) {
    const payload = error?.payload;
    if (payload && typeof payload.tag === 'string') {
      throw new DatabaseError(payload.tag, String(payload.val ?? ''));
    }
    throw error;
  }
}

const bind = (params = []) => params.map(toValue);

/** Statements on the namespace itself, or inside one transaction. */
class Statements {
  constructor(query, execute) {
    this._query = query;
    this._execute = execute;
  }

  /** Runs a statement that returns rows; the rows as objects. */
  query(sql, params) {
    return rowObjects(run(() => this._query(sql, bind(params))));
  }

  /** The first row, or undefined. */
  first(sql, params) {
    return this.query(sql, params)[0];
  }

  /** Runs a statement; the number of rows it changed. */
  execute(sql, params) {
    return Number(run(() => this._execute(sql, bind(params))));
  }
}

const direct = new Statements(witQuery, witExecute);

export const query = (sql, params) => direct.query(sql, params);
export const first = (sql, params) => direct.first(sql, params);
export const execute = (sql, params) => direct.execute(sql, params);

/** `sqlite` or `postgres`, for the rare statement that cannot be portable. */
export const dialect = () => currentDialect();

/**
 * Runs `work(tx)` in a transaction: committed when it returns (or resolves),
 * rolled back when it throws (or rejects); its result.
 */
export async function transaction(work) {
  const tx = run(() => begin());
  const scope = new Statements(
    (sql, params) => tx.query(sql, params),
    (sql, params) => tx.execute(sql, params),
  );
  let result;
  try {
    result = await work(scope);
  } catch (error) {
    try {
      Transaction.rollback(tx);
    } catch {
      // The work's error is the one to report; the host rolls back anyway.
    }
    throw error;
  }
  run(() => Transaction.commit(tx));
  return result;
}
