import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LIVE_SETTINGS,
  RESTART_SETTINGS,
  WORKSPACE_DIAGNOSTICS_DEFAULTS,
  needsRestart,
  readSettings,
  toServerSettings,
} from '../../src/settings';

/** A `WorkspaceConfiguration.get` over a plain map, as VS Code does it (missing key = default). */
function getter(values: Record<string, unknown>) {
  return <T>(key: string, def: T): T => (key in values ? (values[key] as T) : def);
}

describe('readSettings', () => {
  it('gives the defaults when nothing is set', () => {
    assert.deepEqual(readSettings(getter({})), {
      serverPath: '',
      rules: {},
      goVersion: '',
      runOutsideModule: true,
      logLevel: 'info',
      workspaceDiagnostics: { enabled: true, maxFiles: 10000, threads: 0 },
    });
  });

  it('reads every setting and trims strings', () => {
    const s = readSettings(
      getter({
        'server.path': '  /opt/goconc  ',
        rules: { 'mutex-defer-lock': 'warning' },
        goVersion: ' 1.21 ',
        runOutsideModule: false,
        logLevel: 'debug',
        'workspaceDiagnostics.enabled': false,
        'workspaceDiagnostics.maxFiles': 200,
        'workspaceDiagnostics.threads': 2,
      }),
    );
    assert.deepEqual(s, {
      serverPath: '/opt/goconc',
      rules: { 'mutex-defer-lock': 'warning' },
      goVersion: '1.21',
      runOutsideModule: false,
      logLevel: 'debug',
      workspaceDiagnostics: { enabled: false, maxFiles: 200, threads: 2 },
    });
  });

  it('treats values of the wrong type as unset', () => {
    const s = readSettings(getter({ 'server.path': 42, rules: ['x'], goVersion: null, runOutsideModule: 'no', logLevel: 3 }));
    assert.equal(s.serverPath, '');
    assert.deepEqual(s.rules, {});
    assert.equal(s.goVersion, '');
    assert.equal(s.runOutsideModule, true);
    assert.equal(s.logLevel, '');
  });
});

describe('toServerSettings (initializationOptions and workspace/configuration)', () => {
  const base = {
    serverPath: '/x/goconc',
    rules: {},
    goVersion: '',
    runOutsideModule: true,
    logLevel: 'info',
    workspaceDiagnostics: { ...WORKSPACE_DIAGNOSTICS_DEFAULTS },
  };

  it('maps the defaults to what the server expects, without the client-only keys', () => {
    const { settings, problems } = toServerSettings(base);
    assert.deepEqual(settings, {
      rules: {},
      runOutsideModule: true,
      logLevel: 'info',
      workspaceDiagnostics: { enabled: true, maxFiles: 10000, threads: 0 },
    });
    assert.deepEqual(problems, []);
    assert.ok(!('serverPath' in settings));
    assert.ok(!('server' in settings));
    assert.ok(!('trace' in settings));
  });

  it('passes rule severities (any case) and the Go version', () => {
    const { settings, problems } = toServerSettings({
      ...base,
      rules: { 'mutex-defer-lock': 'Warning', 'waitgroup-go-available': 'off' },
      goVersion: 'go1.21',
      runOutsideModule: false,
      logLevel: 'goconc_lsp=trace',
    });
    assert.deepEqual(settings, {
      rules: { 'mutex-defer-lock': 'warning', 'waitgroup-go-available': 'off' },
      goVersion: '1.21',
      runOutsideModule: false,
      logLevel: 'goconc_lsp=trace',
      workspaceDiagnostics: WORKSPACE_DIAGNOSTICS_DEFAULTS,
    });
    assert.deepEqual(problems, []);
  });

  it('drops bad values and names the setting to fix', () => {
    const { settings, problems } = toServerSettings({
      ...base,
      rules: { 'mutex-defer-lock': 'fatal', 'mutex-double-lock': 2, 'mutex-unlock-missing': 'hint' },
      goVersion: 'latest',
    });
    assert.deepEqual(settings.rules, { 'mutex-unlock-missing': 'hint' });
    assert.equal(settings.goVersion, undefined);
    assert.deepEqual(problems, [
      'goconc.rules["mutex-defer-lock"]: "fatal" is not one of off, hint, info, warning, error',
      'goconc.rules["mutex-double-lock"]: 2 is not one of off, hint, info, warning, error',
      'goconc.goVersion: "latest" is not a Go version such as "1.22"',
    ]);
  });

  it('accepts a patch version and leaves logLevel out when empty', () => {
    const { settings } = toServerSettings({ ...base, goVersion: '1.22.3', logLevel: '' });
    assert.equal(settings.goVersion, '1.22.3');
    assert.ok(!('logLevel' in settings));
  });

  it('sends workspaceDiagnostics as one object', () => {
    const { settings, problems } = toServerSettings({ ...base, workspaceDiagnostics: { enabled: false, maxFiles: 200, threads: 2 } });
    assert.deepEqual(settings.workspaceDiagnostics, { enabled: false, maxFiles: 200, threads: 2 });
    assert.deepEqual(problems, []);
  });

  it('keeps the workspaceDiagnostics defaults for bad values and names the setting', () => {
    const { settings, problems } = toServerSettings({ ...base, workspaceDiagnostics: { enabled: 'yes', maxFiles: -1, threads: 1.5 } });
    assert.deepEqual(settings.workspaceDiagnostics, WORKSPACE_DIAGNOSTICS_DEFAULTS);
    assert.deepEqual(problems, [
      'goconc.workspaceDiagnostics.enabled: "yes" is not true or false',
      'goconc.workspaceDiagnostics.maxFiles: -1 is not a whole number of 0 or more',
      'goconc.workspaceDiagnostics.threads: 1.5 is not a whole number of 0 or more',
    ]);
  });

  it('passes the suppression rules like any other', () => {
    const { settings, problems } = toServerSettings({
      ...base,
      rules: { 'unused-suppression': 'warning', 'suppression-without-reason': 'off' },
    });
    assert.deepEqual(settings.rules, { 'unused-suppression': 'warning', 'suppression-without-reason': 'off' });
    assert.deepEqual(problems, []);
  });
});

describe('needsRestart', () => {
  /** affectsConfiguration for a change of `changed`: a section is affected when it is the key or one of its parents. */
  const affects = (changed: string) => (section: string) => changed === section || changed.startsWith(section + '.');

  it('restarts when the server path changes', () => {
    assert.equal(needsRestart(affects('goconc.server.path')), true);
  });

  it('does not restart for settings the server applies live, nor for the trace setting', () => {
    assert.ok(LIVE_SETTINGS.includes('goconc.workspaceDiagnostics.enabled'));
    for (const key of [...LIVE_SETTINGS, 'goconc.trace.server', 'go.toolsManagement.autoUpdate', 'editor.fontSize']) {
      assert.equal(needsRestart(affects(key)), false, key);
    }
  });

  it('restart and live settings do not overlap', () => {
    assert.deepEqual(RESTART_SETTINGS.filter((s) => LIVE_SETTINGS.includes(s)), []);
  });
});
