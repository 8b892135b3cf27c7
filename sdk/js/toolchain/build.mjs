// Builds one JavaScript component: esbuild bundles the entry module (with
// `@berth/sdk` resolved to sdk/js) into one ES module, then componentize-js
// embeds it in its SpiderMonkey engine against a WIT world.
//
//   node build.mjs --entry <file.js> --out <file.wasm> --wit <dir> --world <name>
//                  --sdk <sdk/js dir> [--disable <feature,...>]
//
// `cargo xtask` copies this script into the toolchain dir (next to the
// node_modules `npm ci` installed from the lock beside it) and runs it there.
// The world's imports are left to the component: `berth:*` and `wasi:*`
// modules are the bindings componentize-js generates.

import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { componentize } from '@bytecodealliance/componentize-js';
import * as esbuild from 'esbuild';

const { values: args } = parseArgs({
  options: {
    entry: { type: 'string' },
    out: { type: 'string' },
    wit: { type: 'string' },
    world: { type: 'string' },
    sdk: { type: 'string' },
    disable: { type: 'string', default: '' },
  },
  strict: true,
});
for (const required of ['entry', 'out', 'wit', 'world', 'sdk']) {
  if (!args[required]) {
    console.error(`build.mjs: --${required} is required`);
    process.exit(2);
  }
}

const started = performance.now();
// Every path is resolved before the build changes directory.
const out = resolve(args.out);
const wit = resolve(args.wit);
const entry = resolve(args.entry);
const sdkEntry = resolve(args.sdk, 'src', 'index.js');
const work = await mkdtemp(join(tmpdir(), 'berth-js-'));
try {
  const bundle = join(work, 'service.js');
  await esbuild.build({
    entryPoints: [entry],
    outfile: bundle,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    // The WIT interfaces are modules the engine defines, not files.
    external: ['berth:*', 'wasi:*'],
    plugins: [
      {
        name: 'berth-sdk',
        setup(build) {
          build.onResolve({ filter: /^@berth\/sdk$/ }, () => ({ path: sdkEntry }));
        },
      },
    ],
    logLevel: 'warning',
  });
  const bundled = performance.now();

  // componentize-js maps the source's directory into the engine at build
  // time: from the work dir, only the bundle is visible.
  process.chdir(work);
  const { component } = await componentize({
    sourcePath: bundle,
    witPath: wit,
    worldName: args.world,
    disableFeatures: args.disable ? args.disable.split(',') : [],
  });
  const partial = `${out}.partial`;
  await writeFile(partial, component);
  await rename(partial, out);
  const done = performance.now();
  console.error(
    `built ${out}: ${(component.length / 1048576).toFixed(1)} MiB ` +
      `(bundle ${Math.round(bundled - started)} ms, componentize ${Math.round(done - bundled)} ms)`,
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
