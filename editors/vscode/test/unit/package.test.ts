// The manifest (package.json) agrees with the code: settings, commands, activation, rules.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
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

  it('lists every rule of docs/rules (node scripts/sync-rules.mjs)', { skip: !existsSync(join(root, '..', '..', 'docs', 'rules', 'README.md')) }, () => {
    execFileSync(process.execPath, [join(root, 'scripts', 'sync-rules.mjs'), '--check'], { stdio: 'pipe' });
    const docs = readdirSync(join(root, '..', '..', 'docs', 'rules'))
      .filter((f) => f.endsWith('.md') && f !== 'README.md')
      .map((f) => f.slice(0, -3))
      .sort();
    assert.deepEqual(Object.keys((props['goconc.rules'] as { properties: object }).properties).sort(), docs);
  });

  it('contributes the two commands the extension registers', () => {
    const commands = pkg.contributes.commands.map((c: { command: string; category: string; title: string }) => `${c.category}: ${c.title} = ${c.command}`);
    assert.deepEqual(commands, ['goconc: Restart Server = goconc.restartServer', 'goconc: Show Server Log = goconc.showLog']);
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
