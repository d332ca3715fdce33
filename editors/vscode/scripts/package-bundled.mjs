// Packages the extension with a goconc binary inside (server/goconc), for the platform this runs
// on: goconc-<target>.vsix, where <target> is VS Code's name for the platform (linux-x64,
// darwin-arm64, win32-x64, ...). The extension prefers a configured or environment binary, then
// this one, then `goconc` on PATH (src/discovery.ts).
//   GOCONC_BIN=../../target/dist/goconc node scripts/package-bundled.mjs
// The binary: $GOCONC_BIN, else ../../target/release/goconc. For another platform, build goconc
// there (or cross-compile it) and run this script on that platform.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** VS Code's target name for a Node platform and architecture, or undefined. */
export function vscodeTarget(platform = process.platform, arch = process.arch) {
  const archs = { x64: 'x64', arm64: 'arm64', arm: 'armhf' };
  if (!['linux', 'darwin', 'win32'].includes(platform) || !archs[arch]) return undefined;
  return `${platform}-${archs[arch]}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const target = vscodeTarget();
  if (!target) {
    console.error(`no VS Code target for ${process.platform}-${process.arch}`);
    process.exit(1);
  }
  const exe = process.platform === 'win32' ? 'goconc.exe' : 'goconc';
  const binary = resolve(process.env.GOCONC_BIN ?? join(root, '..', '..', 'target', 'release', exe));
  if (!existsSync(binary)) {
    console.error(`no goconc binary at ${binary}: build it (cargo build --release) or set GOCONC_BIN`);
    process.exit(1);
  }
  // The binary must run here: it is this platform's.
  const version = execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
  const server = join(root, 'server');
  rmSync(server, { recursive: true, force: true });
  mkdirSync(server);
  copyFileSync(binary, join(server, exe));
  chmodSync(join(server, exe), 0o755);
  const out = `goconc-${target}.vsix`;
  try {
    execFileSync(join(root, 'node_modules', '.bin', 'vsce'), ['package', '--no-dependencies', '--target', target, '--out', out], { cwd: root, stdio: 'inherit' });
  } finally {
    // A later plain `npm run package` must not pick it up.
    rmSync(server, { recursive: true, force: true });
  }
  console.log(`${out}: ${version} for ${target}`);
}
