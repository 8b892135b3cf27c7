// Module resolution for the native unit tests: `@berth/sdk` is this SDK and
// the WIT interfaces (`berth:service/…`), which only exist inside a
// component, are the in-memory fakes under fakes/.

const sdk = new URL('../src/index.js', import.meta.url).href;
const WIT = /^berth:service\/(database|settings|log)@0\.1\.0$/;

export async function resolve(specifier, context, next) {
  if (specifier === '@berth/sdk') {
    return { url: sdk, shortCircuit: true };
  }
  const wit = WIT.exec(specifier);
  if (wit) {
    return { url: new URL(`./fakes/${wit[1]}.js`, import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
