// berth:service/database: records every call; `next` scripts the answers
// of query and execute: a value, or `{ error: {tag, val} }` to fail as the
// bindings do (throwing an error whose `payload` is the WIT error).
export const calls = [];
export const next = [];

function answer(call, fallback) {
  calls.push(call);
  const scripted = next.length > 0 ? next.shift() : fallback;
  if (scripted && scripted.error) {
    const error = new Error('database error (see error.payload)');
    Object.defineProperty(error, 'payload', { value: scripted.error });
    throw error;
  }
  return scripted;
}

export function currentDialect() {
  return 'sqlite';
}

export function query(sql, params) {
  return answer({ op: 'query', sql, params }, { columns: [], rows: [] });
}

export function execute(sql, params) {
  return answer({ op: 'execute', sql, params }, 0n);
}

export class Transaction {
  query(sql, params) {
    return answer({ op: 'tx.query', sql, params }, { columns: [], rows: [] });
  }

  execute(sql, params) {
    return answer({ op: 'tx.execute', sql, params }, 0n);
  }

  static commit(tx) {
    calls.push({ op: 'commit', tx });
  }

  static rollback(tx) {
    calls.push({ op: 'rollback', tx });
  }
}

export function begin() {
  calls.push({ op: 'begin' });
  return new Transaction();
}
