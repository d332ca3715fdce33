// Writes the rule catalog of `goconc rules --format json` into package.json as the known keys of
// the `goconc.rules` setting, so the settings editor completes them.
//   node scripts/sync-rules.mjs          update package.json
//   node scripts/sync-rules.mjs --check  exit 1 when package.json is stale (the unit tests do this)
// The goconc binary: $GOCONC_BIN, else ../../target/release/goconc, ../../target/debug/goconc,
// else `goconc` on PATH.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const SEVERITIES = ['off', 'hint', 'info', 'warning', 'error'];

/** The goconc binary to ask for the catalog. */
export function goconcBinary(env = process.env) {
  if (env.GOCONC_BIN) return env.GOCONC_BIN;
  for (const profile of ['release', 'debug']) {
    const built = join(root, '..', '..', 'target', profile, 'goconc');
    if (existsSync(built)) return built;
  }
  return 'goconc';
}

/** The `goconc.rules` properties for a catalog (the parsed `goconc rules --format json`). */
export function rulesFromCatalog(catalog) {
  if (!Array.isArray(catalog)) throw new Error('the catalog is not a JSON array');
  const rules = {};
  for (const rule of catalog) {
    if (typeof rule.id !== 'string' || !SEVERITIES.includes(rule.severity) || typeof rule.summary !== 'string') {
      throw new Error(`not a catalog entry: ${JSON.stringify(rule)}`);
    }
    rules[rule.id] = {
      type: 'string',
      enum: SEVERITIES,
      markdownDescription: `${rule.summary} (default: ${rule.severity})`,
    };
  }
  return rules;
}

/** The catalog, from the goconc binary. */
export function readCatalog(binary = goconcBinary()) {
  const out = execFileSync(binary, ['rules', '--format', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const pkgPath = join(root, 'package.json');
  const text = readFileSync(pkgPath, 'utf8');
  const pkg = JSON.parse(text);
  const rules = rulesFromCatalog(readCatalog());
  pkg.contributes.configuration.properties['goconc.rules'].properties = rules;
  const updated = JSON.stringify(pkg, null, 2) + '\n';
  if (process.argv.includes('--check')) {
    if (updated !== text) {
      console.error('package.json: goconc.rules does not list the rules of `goconc rules --format json`: run node scripts/sync-rules.mjs');
      process.exit(1);
    }
  } else {
    writeFileSync(pkgPath, updated);
    console.log(`goconc.rules: ${Object.keys(rules).length} rules`);
  }
}
