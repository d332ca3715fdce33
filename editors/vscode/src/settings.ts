// The extension's settings and what the server receives from them. No 'vscode' import: the
// extension hands in a getter over `workspace.getConfiguration('goconc')`, the unit tests a map.

export const SECTION = 'goconc';

export const SEVERITIES = ['off', 'hint', 'info', 'warning', 'error'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const;

/** `goconc.workspaceDiagnostics.*`: the server's background check of the files not open. */
export interface WorkspaceDiagnostics {
  enabled: boolean;
  /** At most this many files (whole folders, in path order). */
  maxFiles: number;
  /** Background threads; 0 lets the server choose. */
  threads: number;
}

export const WORKSPACE_DIAGNOSTICS_DEFAULTS: WorkspaceDiagnostics = { enabled: true, maxFiles: 10000, threads: 0 };

/** The `goconc.*` settings as the extension reads them (keys relative to `goconc.`). */
export interface ExtensionSettings {
  serverPath: string;
  rules: Record<string, unknown>;
  goVersion: string;
  runOutsideModule: boolean;
  logLevel: string;
  workspaceDiagnostics: { enabled: unknown; maxFiles: unknown; threads: unknown };
}

/** What the server reads from initializationOptions and workspace/configuration `goconc`. */
export interface ServerSettings {
  rules: Record<string, Severity>;
  goVersion?: string;
  runOutsideModule: boolean;
  logLevel?: string;
  workspaceDiagnostics: WorkspaceDiagnostics;
}

/** `get(key, default)` as `WorkspaceConfiguration.get` does it, keys relative to `goconc.`. */
export type SettingGetter = <T>(key: string, defaultValue: T) => T;

export function readSettings(get: SettingGetter): ExtensionSettings {
  const rules = get<unknown>('rules', {});
  return {
    serverPath: asString(get<unknown>('server.path', '')),
    rules: rules !== null && typeof rules === 'object' && !Array.isArray(rules) ? { ...(rules as Record<string, unknown>) } : {},
    goVersion: asString(get<unknown>('goVersion', '')),
    runOutsideModule: get<unknown>('runOutsideModule', true) !== false,
    logLevel: asString(get<unknown>('logLevel', 'info')),
    workspaceDiagnostics: {
      enabled: get<unknown>('workspaceDiagnostics.enabled', WORKSPACE_DIAGNOSTICS_DEFAULTS.enabled),
      maxFiles: get<unknown>('workspaceDiagnostics.maxFiles', WORKSPACE_DIAGNOSTICS_DEFAULTS.maxFiles),
      threads: get<unknown>('workspaceDiagnostics.threads', WORKSPACE_DIAGNOSTICS_DEFAULTS.threads),
    },
  };
}

function asString(value: unknown): string {
  return typeof value === 'string' ? value.trim() : '';
}

/**
 * The settings the server gets, and a note for each value that was dropped (the server would
 * reject it too; telling the user here names the VS Code setting they have to fix).
 */
export function toServerSettings(settings: ExtensionSettings): { settings: ServerSettings; problems: string[] } {
  const problems: string[] = [];
  const rules: Record<string, Severity> = {};
  for (const [rule, level] of Object.entries(settings.rules)) {
    const word = typeof level === 'string' ? level.trim().toLowerCase() : level;
    if (typeof word === 'string' && (SEVERITIES as readonly string[]).includes(word)) {
      rules[rule] = word as Severity;
    } else {
      problems.push(`goconc.rules["${rule}"]: ${JSON.stringify(level)} is not one of ${SEVERITIES.join(', ')}`);
    }
  }
  const workspaceDiagnostics = { ...WORKSPACE_DIAGNOSTICS_DEFAULTS };
  const wd = settings.workspaceDiagnostics;
  if (typeof wd.enabled === 'boolean') {
    workspaceDiagnostics.enabled = wd.enabled;
  } else {
    problems.push(`goconc.workspaceDiagnostics.enabled: ${JSON.stringify(wd.enabled)} is not true or false`);
  }
  for (const key of ['maxFiles', 'threads'] as const) {
    const n = wd[key];
    if (typeof n === 'number' && Number.isInteger(n) && n >= 0) {
      workspaceDiagnostics[key] = n;
    } else {
      problems.push(`goconc.workspaceDiagnostics.${key}: ${JSON.stringify(n)} is not a whole number of 0 or more`);
    }
  }
  const out: ServerSettings = { rules, runOutsideModule: settings.runOutsideModule, workspaceDiagnostics };
  if (settings.goVersion !== '') {
    const m = /^(?:go)?(1\.\d+(?:\.\d+)?)$/.exec(settings.goVersion);
    if (m) {
      out.goVersion = m[1];
    } else {
      problems.push(`goconc.goVersion: "${settings.goVersion}" is not a Go version such as "1.22"`);
    }
  }
  if (settings.logLevel !== '') {
    out.logLevel = settings.logLevel;
  }
  return { settings: out, problems };
}

/**
 * Settings whose change restarts the server: the binary to run. Everything the server reads
 * (rules, goVersion, runOutsideModule, logLevel, workspaceDiagnostics, which it applies live) goes through
 * workspace/didChangeConfiguration instead, and `goconc.trace.server` is read by the client.
 */
export const RESTART_SETTINGS: readonly string[] = ['goconc.server.path'];

/** Sent to the running server with didChangeConfiguration when they change. */
export const LIVE_SETTINGS: readonly string[] = [
  'goconc.rules',
  'goconc.goVersion',
  'goconc.runOutsideModule',
  'goconc.logLevel',
  'goconc.workspaceDiagnostics.enabled',
  'goconc.workspaceDiagnostics.maxFiles',
  'goconc.workspaceDiagnostics.threads',
];

/** Whether a configuration change (`affects` = `ConfigurationChangeEvent.affectsConfiguration`) needs a restart. */
export function needsRestart(affects: (section: string) => boolean): boolean {
  return RESTART_SETTINGS.some((s) => affects(s));
}
