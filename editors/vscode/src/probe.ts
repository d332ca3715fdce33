// Runs `CANDIDATE --version` and checks that it is goconc. Node only, no 'vscode' import.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { Candidate, ProbeResult, parseVersion } from './discovery';

export function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function run(file: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    execFile(file, ['--version'], { timeout: timeoutMs, windowsHide: true }, (error, stdout, stderr) => {
      if (error) {
        const e = error as NodeJS.ErrnoException & { killed?: boolean; signal?: string; code?: string | number };
        if (e.code === 'ENOENT') {
          resolve({ ok: false, reason: 'no such file' });
        } else if (e.code === 'EACCES') {
          resolve({ ok: false, reason: 'not executable (permission denied)' });
        } else if (e.killed || e.signal) {
          resolve({ ok: false, reason: `\`--version\` did not finish in ${timeoutMs} ms` });
        } else {
          const detail = String(stderr || stdout || e.message).trim().split('\n')[0];
          resolve({ ok: false, reason: `\`--version\` failed (exit ${e.code ?? '?'}): ${detail}` });
        }
        return;
      }
      const version = parseVersion(String(stdout));
      if (version) {
        resolve({ ok: true, version });
      } else {
        const first = String(stdout).trim().split('\n')[0] ?? '';
        resolve({ ok: false, reason: `\`--version\` printed "${first.slice(0, 80)}", not "goconc <version>": not goconc?` });
      }
    });
  });
}

/**
 * The `--version` check. A binary shipped inside the extension may have lost its executable bit
 * when the .vsix was unpacked: it gets it back once.
 */
export async function probe(c: Candidate, timeoutMs = 10_000): Promise<ProbeResult> {
  const first = await run(c.path, timeoutMs);
  if (!first.ok && c.source === 'bundled' && process.platform !== 'win32' && first.reason.startsWith('not executable')) {
    try {
      fs.chmodSync(c.path, 0o755);
    } catch {
      return first;
    }
    return run(c.path, timeoutMs);
  }
  return first;
}
