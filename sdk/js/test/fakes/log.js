// berth:service/log, into an array the test reads.
export const lines = [];

export function log(level, message, fields) {
  lines.push({ level, message, fields: Object.fromEntries(fields) });
}
