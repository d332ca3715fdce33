// Which goconc binary to run. No 'vscode' import: the file system and the `--version` check are
// handed in, so the order and the messages are unit-tested.
//
// Order:
//   1. the `goconc.server.path` setting
//   2. the GOCONC_SERVER_PATH environment variable (of the VS Code / extension host process)
//   3. the binary shipped inside the extension: <extension>/server/goconc
//   4. `goconc` on PATH
// The first two are explicit: when one is set but does not run, that is the error (falling back to
// another goconc would hide the mistake). The last two are tried in turn.

import * as path from 'node:path';

export const ENV_VAR = 'GOCONC_SERVER_PATH';

export type Source = 'setting' | 'env' | 'bundled' | 'path';

export interface Candidate {
  source: Source;
  path: string;
  /** Named by the user (setting or environment): a failure is final. */
  explicit: boolean;
}

export interface DiscoveryInput {
  /** `goconc.server.path` ('' when unset). */
  settingPath: string;
  /** process.env.GOCONC_SERVER_PATH. */
  envPath?: string;
  /** The extension's folder (context.extensionPath). */
  extensionPath: string;
  /** process.env.PATH. */
  pathEnv?: string;
  platform: NodeJS.Platform;
  /** os.homedir(), for `~/…`. */
  homeDir?: string;
  /** The first workspace folder, for relative paths. */
  workspaceFolder?: string;
}

export type ProbeResult = { ok: true; version: string } | { ok: false; reason: string };

export interface DiscoveryDeps {
  isFile(p: string): boolean;
  probe(c: Candidate): Promise<ProbeResult>;
}

export interface Attempt {
  candidate: Candidate;
  reason: string;
}

export type Discovery =
  | { ok: true; path: string; version: string; source: Source; attempts: Attempt[] }
  | { ok: false; attempts: Attempt[]; message: string };

export function binaryName(platform: NodeJS.Platform): string {
  return platform === 'win32' ? 'goconc.exe' : 'goconc';
}

function pathModule(platform: NodeJS.Platform): path.PlatformPath {
  return platform === 'win32' ? path.win32 : path.posix;
}

/** `~`, `~/x` and paths relative to the workspace folder, made absolute. */
export function expandPath(p: string, input: Pick<DiscoveryInput, 'platform' | 'homeDir' | 'workspaceFolder'>): string {
  const pm = pathModule(input.platform);
  let out = p.trim();
  if (input.homeDir && (out === '~' || out.startsWith('~/') || out.startsWith('~\\'))) {
    out = pm.join(input.homeDir, out.slice(1));
  }
  if (!pm.isAbsolute(out) && input.workspaceFolder) {
    out = pm.resolve(input.workspaceFolder, out);
  }
  return out;
}

/** The candidates in the order they are tried. Explicit ones come first and are not filtered. */
export function candidates(input: DiscoveryInput, isFile: (p: string) => boolean): Candidate[] {
  const out: Candidate[] = [];
  const pm = pathModule(input.platform);
  const name = binaryName(input.platform);
  if (input.settingPath.trim() !== '') {
    out.push({ source: 'setting', path: expandPath(input.settingPath, input), explicit: true });
  }
  if (input.envPath && input.envPath.trim() !== '') {
    out.push({ source: 'env', path: expandPath(input.envPath, input), explicit: true });
  }
  const bundled = pm.join(input.extensionPath, 'server', name);
  if (isFile(bundled)) {
    out.push({ source: 'bundled', path: bundled, explicit: false });
  }
  const delimiter = input.platform === 'win32' ? ';' : ':';
  for (const dir of (input.pathEnv ?? '').split(delimiter)) {
    if (dir.trim() === '' || !pm.isAbsolute(dir)) {
      continue; // an empty or relative PATH entry means "the current folder": never for a server
    }
    const p = pm.join(dir, name);
    if (isFile(p) && !out.some((c) => c.path === p)) {
      out.push({ source: 'path', path: p, explicit: false });
    }
  }
  return out;
}

export function describeSource(c: Candidate): string {
  switch (c.source) {
    case 'setting':
      return 'the goconc.server.path setting';
    case 'env':
      return `the ${ENV_VAR} environment variable`;
    case 'bundled':
      return 'the binary shipped with the extension';
    case 'path':
      return 'PATH';
  }
}

/**
 * Picks the server: the first candidate whose `--version` check passes. An explicit candidate that
 * fails ends the search with its reason.
 */
export async function findServer(input: DiscoveryInput, deps: DiscoveryDeps): Promise<Discovery> {
  const attempts: Attempt[] = [];
  for (const candidate of candidates(input, deps.isFile)) {
    const result = await deps.probe(candidate);
    if (result.ok) {
      return { ok: true, path: candidate.path, version: result.version, source: candidate.source, attempts };
    }
    attempts.push({ candidate, reason: result.reason });
    if (candidate.explicit) {
      return {
        ok: false,
        attempts,
        message: `The goconc server from ${describeSource(candidate)} (${candidate.path}) does not run: ${result.reason}.`,
      };
    }
  }
  return { ok: false, attempts, message: notFoundMessage(attempts) };
}

function notFoundMessage(attempts: Attempt[]): string {
  const head =
    'Could not find the goconc language server. Set goconc.server.path to the goconc binary, or put goconc on PATH (`cargo build --release` in a goconc checkout builds target/release/goconc).';
  if (attempts.length === 0) {
    return head;
  }
  const tried = attempts.map((a) => `${a.candidate.path} (${describeSource(a.candidate)}): ${a.reason}`).join('; ');
  return `${head} Tried: ${tried}.`;
}

/** Reads the version out of `goconc --version` output ("goconc 0.1.0"). */
export function parseVersion(stdout: string): string | undefined {
  const m = /^goconc\s+(\S+)/m.exec(stdout.trim());
  return m ? m[1] : undefined;
}
