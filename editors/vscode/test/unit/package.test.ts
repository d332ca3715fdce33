// The manifest (package.json) agrees with the code: settings, commands, activation, rules.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { LIVE_SETTINGS, RESTART_SETTINGS, SEVERITIES, readSettings } from '../../src/settings';

const root = join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const props: Record<string, { default?: unknown; enum?: string[]; type?: string }> = pkg.contributes.configuration.properties;

describe('package.json', () => {
  it('contributes the settings the extension reads, with the same defaults', () => {
    assert.deepEqual(Object.keys(props).sort(), [
      'goconc.goVersion',
      'goconc.logLevel',
      'goconc.rules',
      'goconc.runOutsideModule',
      'goconc.server.path',
      'goconc.trace.server',
      'goconc.workspaceDiagnostics.enabled',
      'goconc.workspaceDiagnostics.maxFiles',
      'goconc.workspaceDiagnostics.threads',
    ]);
    // readSettings with nothing set gives the package.json defaults.
    const defaults = readSettings(<T>(key: string, def: T) => (props[`goconc.${key}`]?.default ?? def) as T);
    assert.deepEqual(defaults, readSettings(<T>(_: string, def: T) => def));
    assert.deepEqual(props['goconc.trace.server'].enum, ['off', 'messages', 'verbose']);
    for (const key of [...RESTART_SETTINGS, ...LIVE_SETTINGS]) {
      assert.ok(key in props, key);
    }
  });

  it('goconc.rules takes the five severities for any rule', () => {
    const rules = props['goconc.rules'] as { additionalProperties: { enum: string[] }; properties: Record<string, { enum: string[] }> };
    assert.deepEqual(rules.additionalProperties.enum, [...SEVERITIES]);
    assert.ok(Object.keys(rules.properties).length >= 40);
    for (const [id, p] of Object.entries(rules.properties)) {
      assert.deepEqual(p.enum, [...SEVERITIES], id);
    }
  });

  // The goconc binary the catalog comes from (as scripts/sync-rules.mjs finds it).
  const goconc = process.env.GOCONC_BIN
    ?? ['release', 'debug'].map((p) => join(root, '..', '..', 'target', p, 'goconc')).find((p) => existsSync(p));

  it('lists every rule of `goconc rules --format json` (node scripts/sync-rules.mjs)', { skip: !goconc && 'no goconc binary: set GOCONC_BIN' }, () => {
    execFileSync(process.execPath, [join(root, 'scripts', 'sync-rules.mjs'), '--check'], { stdio: 'pipe', env: { ...process.env, GOCONC_BIN: goconc } });
    const catalog: { id: string }[] = JSON.parse(execFileSync(goconc!, ['rules', '--format', 'json'], { encoding: 'utf8' }));
    const listed = Object.keys((props['goconc.rules'] as { properties: object }).properties).sort();
    assert.deepEqual(listed, catalog.map((r) => r.id).sort());
    // Every rule has its page, and every page a rule.
    const docs = readdirSync(join(root, '..', '..', 'docs', 'rules'))
      .filter((f) => f.endsWith('.md') && f !== 'README.md')
      .map((f) => f.slice(0, -3))
      .sort();
    assert.deepEqual(listed, docs);
  });

  it('turns a catalog into settings and refuses what is not one', async () => {
    const script = pathToFileURL(join(root, 'scripts', 'sync-rules.mjs')).href;
    const { rulesFromCatalog } = await import(script);
    const rules = rulesFromCatalog([
      { id: 'mutex-defer-lock', family: 'mutex', severity: 'error', summary: '`defer mu.Lock()` | meant `Unlock`', fix: 'x', url: 'u' },
    ]);
    assert.deepEqual(rules, {
      'mutex-defer-lock': {
        type: 'string',
        enum: ['off', 'hint', 'info', 'warning', 'error'],
        markdownDescription: '`defer mu.Lock()` | meant `Unlock` (default: error)',
      },
    });
    assert.throws(() => rulesFromCatalog({ rules: [] }), /not a JSON array/);
    assert.throws(() => rulesFromCatalog([{ id: 'x', severity: 'loud', summary: '' }]), /not a catalog entry/);
  });

  it('names the platform of a bundled server as VS Code does (npm run package:bundled)', async () => {
    const { vscodeTarget } = await import(pathToFileURL(join(root, 'scripts', 'package-bundled.mjs')).href);
    assert.equal(vscodeTarget('linux', 'x64'), 'linux-x64');
    assert.equal(vscodeTarget('darwin', 'arm64'), 'darwin-arm64');
    assert.equal(vscodeTarget('win32', 'x64'), 'win32-x64');
    assert.equal(vscodeTarget('linux', 'arm'), 'linux-armhf');
    assert.equal(vscodeTarget('freebsd', 'x64'), undefined);
    assert.equal(pkg.scripts['package:bundled'], 'node scripts/package-bundled.mjs');
  });

  it('contributes the commands the extension registers', () => {
    const commands = pkg.contributes.commands.map((c: { command: string; category: string; title: string }) => `${c.category}: ${c.title} = ${c.command}`);
    assert.deepEqual(commands, [
      'goconc: Restart Server = goconc.restartServer',
      'goconc: Show Server Log = goconc.showLog',
      'goconc: Fix All Safe Problems in This File = goconc.fixAllInFile',
      'goconc: Explain Rule… = goconc.explainRule',
    ]);
    const source = readFileSync(join(root, 'src', 'extension.ts'), 'utf8');
    for (const c of pkg.contributes.commands) {
      assert.ok(source.includes(`registerCommand('${c.command}'`), c.command);
    }
  });

  it('activates on Go and does not claim what the Go extension owns', () => {
    assert.deepEqual(pkg.activationEvents, ['onLanguage:go', 'workspaceContains:go.mod']);
    assert.equal(pkg.main, './dist/extension.js');
    for (const owned of ['languages', 'grammars', 'debuggers', 'taskDefinitions', 'snippets']) {
      assert.ok(!(owned in pkg.contributes), owned);
    }
    assert.equal(pkg.license, 'MIT');
    // A workspace cannot pick the binary that runs unless it is trusted.
    assert.deepEqual(pkg.capabilities.untrustedWorkspaces.restrictedConfigurations, ['goconc.server.path']);
    assert.equal(pkg.repository.url, 'https://github.com/goconc/goconc');
  });

  it('keeps editor code in extension.ts: the other modules do not import vscode', () => {
    for (const f of readdirSync(join(root, 'src'))) {
      const text = readFileSync(join(root, 'src', f), 'utf8');
      const importsVscode = /from 'vscode'|require\('vscode'\)/.test(text);
      assert.equal(importsVscode, f === 'extension.ts', f);
    }
  });
});
