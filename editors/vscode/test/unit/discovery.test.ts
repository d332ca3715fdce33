import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Candidate, DiscoveryInput, ProbeResult, candidates, expandPath, findServer, parseVersion } from '../../src/discovery';

const EXT = '/ext/goconc-0.1.0';

function input(over: Partial<DiscoveryInput> = {}): DiscoveryInput {
  return {
    settingPath: '',
    envPath: undefined,
    extensionPath: EXT,
    pathEnv: '/usr/local/bin:/usr/bin',
    platform: 'linux',
    homeDir: '/home/ada',
    workspaceFolder: '/work/shop',
    ...over,
  };
}

/** A fake file system (a set of files) and a probe that passes for `good` paths. */
function deps(files: string[], good: string[]) {
  const probed: string[] = [];
  return {
    probed,
    isFile: (p: string) => files.includes(p),
    probe: async (c: Candidate): Promise<ProbeResult> => {
      probed.push(c.path);
      return good.includes(c.path) ? { ok: true, version: '0.1.0' } : { ok: false, reason: files.includes(c.path) ? 'exit 1' : 'no such file' };
    },
  };
}

describe('candidates', () => {
  it('orders setting, environment variable, bundled binary, PATH', () => {
    const files = [`${EXT}/server/goconc`, '/usr/bin/goconc', '/usr/local/bin/goconc'];
    const c = candidates(input({ settingPath: '/opt/goconc', envPath: '/env/goconc' }), (p) => files.includes(p));
    assert.deepEqual(
      c.map((x) => [x.source, x.path, x.explicit]),
      [
        ['setting', '/opt/goconc', true],
        ['env', '/env/goconc', true],
        ['bundled', `${EXT}/server/goconc`, false],
        ['path', '/usr/local/bin/goconc', false],
        ['path', '/usr/bin/goconc', false],
      ],
    );
  });

  it('lists explicit paths even when missing, implicit ones only when they exist', () => {
    const c = candidates(input({ settingPath: '/missing/goconc' }), () => false);
    assert.deepEqual(c.map((x) => x.source), ['setting']);
  });

  it('skips empty and relative PATH entries and duplicates', () => {
    const files = ['/usr/bin/goconc', 'bin/goconc', '/work/shop/bin/goconc'];
    const c = candidates(input({ pathEnv: ':bin:/usr/bin:/usr/bin' }), (p) => files.includes(p));
    assert.deepEqual(c.map((x) => x.path), ['/usr/bin/goconc']);
  });

  it('uses goconc.exe and ; on Windows', () => {
    const files = ['C:\\ext\\server\\goconc.exe', 'C:\\tools\\goconc.exe'];
    const c = candidates(
      input({ platform: 'win32', extensionPath: 'C:\\ext', pathEnv: 'C:\\Windows;C:\\tools', homeDir: 'C:\\Users\\ada', workspaceFolder: 'C:\\work' }),
      (p) => files.includes(p),
    );
    assert.deepEqual(c.map((x) => x.path), ['C:\\ext\\server\\goconc.exe', 'C:\\tools\\goconc.exe']);
  });
});

describe('expandPath', () => {
  it('expands ~ and resolves relative paths against the workspace folder', () => {
    assert.equal(expandPath('~/bin/goconc', input()), '/home/ada/bin/goconc');
    assert.equal(expandPath('~', input()), '/home/ada');
    assert.equal(expandPath('target/release/goconc', input()), '/work/shop/target/release/goconc');
    assert.equal(expandPath('/abs/goconc', input()), '/abs/goconc');
  });

  it('leaves a relative path alone with no workspace folder', () => {
    assert.equal(expandPath('goconc', input({ workspaceFolder: undefined })), 'goconc');
  });
});

describe('findServer', () => {
  it('takes the setting first', async () => {
    const d = deps(['/opt/goconc', '/usr/bin/goconc'], ['/opt/goconc', '/usr/bin/goconc']);
    const r = await findServer(input({ settingPath: '/opt/goconc', envPath: '/env/goconc' }), d);
    assert.deepEqual(r, { ok: true, path: '/opt/goconc', version: '0.1.0', source: 'setting', attempts: [] });
    assert.deepEqual(d.probed, ['/opt/goconc']);
  });

  it('takes the environment variable when the setting is empty', async () => {
    const d = deps(['/env/goconc', `${EXT}/server/goconc`], ['/env/goconc', `${EXT}/server/goconc`]);
    const r = await findServer(input({ envPath: '/env/goconc' }), d);
    assert.equal(r.ok && r.source, 'env');
  });

  it('takes the bundled binary before PATH', async () => {
    const d = deps([`${EXT}/server/goconc`, '/usr/bin/goconc'], [`${EXT}/server/goconc`, '/usr/bin/goconc']);
    const r = await findServer(input(), d);
    assert.ok(r.ok);
    assert.equal(r.source, 'bundled');
    assert.equal(r.path, `${EXT}/server/goconc`);
  });

  it('falls back from a broken bundled binary to PATH, and records why', async () => {
    const d = deps([`${EXT}/server/goconc`, '/usr/bin/goconc'], ['/usr/bin/goconc']);
    const r = await findServer(input(), d);
    assert.ok(r.ok);
    assert.equal(r.source, 'path');
    assert.deepEqual(r.attempts.map((a) => [a.candidate.source, a.reason]), [['bundled', 'exit 1']]);
  });

  it('does not fall back when the setting names a binary that does not run', async () => {
    const d = deps(['/usr/bin/goconc'], ['/usr/bin/goconc']);
    const r = await findServer(input({ settingPath: '/nope/goconc' }), d);
    assert.equal(r.ok, false);
    assert.deepEqual(d.probed, ['/nope/goconc']);
    assert.ok(!r.ok);
    assert.equal(r.message, 'The goconc server from the goconc.server.path setting (/nope/goconc) does not run: no such file.');
  });

  it('does not fall back when GOCONC_SERVER_PATH is broken', async () => {
    const d = deps(['/usr/bin/goconc'], ['/usr/bin/goconc']);
    const r = await findServer(input({ envPath: '/nope/goconc' }), d);
    assert.ok(!r.ok);
    assert.match(r.message, /GOCONC_SERVER_PATH environment variable \(\/nope\/goconc\) does not run: no such file/);
  });

  it('explains where to configure the server when none is found', async () => {
    const r = await findServer(input(), deps([], []));
    assert.ok(!r.ok);
    assert.match(r.message, /^Could not find the goconc language server\. Set goconc\.server\.path/);
    assert.doesNotMatch(r.message, /Tried/);
  });

  it('lists what it tried when every candidate fails', async () => {
    const r = await findServer(input(), deps(['/usr/bin/goconc'], []));
    assert.ok(!r.ok);
    assert.match(r.message, /Tried: \/usr\/bin\/goconc \(PATH\): exit 1\.$/);
  });
});

describe('parseVersion', () => {
  it('reads `goconc --version`', () => {
    assert.equal(parseVersion('goconc 0.1.0\n'), '0.1.0');
    assert.equal(parseVersion('goconc 1.2.3-dev+abc'), '1.2.3-dev+abc');
  });
  it('rejects other programs', () => {
    assert.equal(parseVersion('gopls v0.16.0'), undefined);
    assert.equal(parseVersion(''), undefined);
  });
});
