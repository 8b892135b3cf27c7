// berth:service/settings, from a map the test fills.
export const values = new Map();

export function get(key) {
  return values.get(key);
}

export function getAll() {
  return [...values].sort(([a], [b]) => (a < b ? -1 : 1));
}
