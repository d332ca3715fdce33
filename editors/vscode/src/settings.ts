// The extension's settings and what the server receives from them. No 'vscode' import: the
// extension hands in a getter over `workspace.getConfiguration('goconc')`, the unit tests a map.

export const SECTION = 'goconc';

export const SEVERITIES = ['off', 'hint', 'info', 'warning', 'error'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const;

/** The `goconc.*` settings as the extension reads them (keys relative to `goconc.`). */
export interface ExtensionSettings {
  serverPath: string;
  rules: Record<string, unknown>;
  goVersion: string;
  runOutsideModule: boolean;
  logLevel: string;
}

/** What the server reads from initializationOptions and workspace/configuration `goconc`. */
export interface ServerSettings {
  rules: Record<string, Severity>;
  goVersion?: string;
  runOutsideModule: boolean;
  logLevel?: string;
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
  const out: ServerSettings = { rules, runOutsideModule: settings.runOutsideModule };
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
 * (rules, goVersion, runOutsideModule, logLevel, which it applies live) goes through
 * workspace/didChangeConfiguration instead, and `goconc.trace.server` is read by the client.
 */
export const RESTART_SETTINGS: readonly string[] = ['goconc.server.path'];

/** Sent to the running server with didChangeConfiguration when they change. */
export const LIVE_SETTINGS: readonly string[] = ['goconc.rules', 'goconc.goVersion', 'goconc.runOutsideModule', 'goconc.logLevel'];

/** Whether a configuration change (`affects` = `ConfigurationChangeEvent.affectsConfiguration`) needs a restart. */
export function needsRestart(affects: (section: string) => boolean): boolean {
  return RESTART_SETTINGS.some((s) => affects(s));
}
