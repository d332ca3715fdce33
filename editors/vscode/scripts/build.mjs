// Bundles the extension with esbuild: src/extension.ts -> dist/extension.js (CommonJS, 'vscode'
// left to the editor). `--tests` bundles test/unit/*.test.ts -> out/test/*.test.js for node --test.
//   node scripts/build.mjs [--production] [--watch] [--tests]
import * as esbuild from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const production = args.has('--production');

const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  target: 'node18',
  format: 'cjs',
  logLevel: 'warning',
};

if (args.has('--tests')) {
  const dir = join(root, 'test', 'unit');
  rmSync(join(root, 'out', 'test'), { recursive: true, force: true });
  await esbuild.build({
    ...common,
    entryPoints: readdirSync(dir).filter((f) => f.endsWith('.test.ts')).map((f) => join(dir, f)),
    outdir: join(root, 'out', 'test'),
    sourcemap: 'inline',
    // The unit tests cover modules that never import 'vscode'; fail loudly if one starts to.
    external: [],
  });
} else {
  const options = {
    ...common,
    entryPoints: [join(root, 'src', 'extension.ts')],
    outfile: join(root, 'dist', 'extension.js'),
    external: ['vscode'],
    minify: production,
    sourcemap: !production,
  };
  if (args.has('--watch')) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
    console.log('watching src/ ...');
  } else {
    rmSync(join(root, 'dist'), { recursive: true, force: true });
    await esbuild.build(options);
  }
}
