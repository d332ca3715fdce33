// The `--version` check against real programs (small shell scripts standing in for goconc).
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Candidate, findServer } from '../../src/discovery';
import { isFile, probe } from '../../src/probe';

const dir = mkdtempSync(join(tmpdir(), 'goconc-probe-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string, mode = 0o755): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, mode);
  return p;
}

const cand = (path: string, source: Candidate['source'] = 'path'): Candidate => ({ source, path, explicit: false });

describe('probe', { skip: process.platform === 'win32' }, () => {
  it('accepts a program that prints "goconc VERSION"', async () => {
    assert.deepEqual(await probe(cand(script('good', 'echo "goconc 0.1.0"'))), { ok: true, version: '0.1.0' });
  });

  it('rejects another program', async () => {
    const r = await probe(cand(script('other', 'echo "gopls v0.16.2"')));
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.reason : '', /printed "gopls v0\.16\.2", not "goconc <version>"/);
  });

  it('reports a failing --version with its exit code and stderr', async () => {
    const r = await probe(cand(script('fails', 'echo "boom: bad flag" >&2; exit 3')));
    assert.deepEqual(r, { ok: false, reason: '`--version` failed (exit 3): boom: bad flag' });
  });

  it('reports a missing file and a file that is not executable', async () => {
    assert.deepEqual(await probe(cand(join(dir, 'missing'))), { ok: false, reason: 'no such file' });
    assert.deepEqual(await probe(cand(script('noexec', 'echo "goconc 0.1.0"', 0o644))), {
      ok: false,
      reason: 'not executable (permission denied)',
    });
  });

  it('gives the bundled binary its executable bit back', async () => {
    const p = script('bundled', 'echo "goconc 0.2.0"', 0o644);
    assert.deepEqual(await probe(cand(p, 'bundled')), { ok: true, version: '0.2.0' });
    assert.ok(statSync(p).mode & 0o100);
  });

  it('gives up on a program that hangs', async () => {
    const r = await probe(cand(script('hangs', 'sleep 5')), 300);
    assert.deepEqual(r, { ok: false, reason: '`--version` did not finish in 300 ms' });
  });

  it('findServer with real files: the first working goconc on PATH', async () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    mkdirSync(a);
    mkdirSync(b);
    writeFileSync(join(a, 'goconc'), '#!/bin/sh\necho "not it"\n', { mode: 0o755 });
    writeFileSync(join(b, 'goconc'), '#!/bin/sh\necho "goconc 9.9.9"\n', { mode: 0o755 });
    const r = await findServer(
      { settingPath: '', extensionPath: join(dir, 'ext'), pathEnv: `${a}:${b}`, platform: 'linux' },
      { isFile, probe },
    );
    assert.ok(r.ok);
    assert.equal(r.path, join(b, 'goconc'));
    assert.equal(r.version, '9.9.9');
    assert.equal(r.attempts.length, 1);
  });
});
