// The goconc VS Code extension: finds the goconc binary, runs `goconc lsp --stdio` through
// vscode-languageclient for Go files, and restarts it when the binary setting changes. The logic
// that needs no editor lives in settings.ts and discovery.ts (unit-tested with node --test).

import * as os from 'node:os';
import * as vscode from 'vscode';
import {
  CloseAction,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
} from 'vscode-languageclient/node';
import { Discovery, ENV_VAR, findServer } from './discovery';
import { isFile, probe } from './probe';
import { SECTION, needsRestart, readSettings, toServerSettings } from './settings';

const OPEN_SETTING = 'Open Setting';
const SHOW_LOG = 'Show Log';

/** The server's commands (workspace/executeCommand), which the palette commands below call. */
const SERVER_FIX_ALL = 'goconc.fixAll';
const SERVER_EXPLAIN = 'goconc.explain';

/** What `activate` returns: used by tests and by other extensions that want to know. */
export interface GoconcApi {
  /** The running client, if the server started. */
  readonly client: LanguageClient | undefined;
  /** The last discovery result. */
  readonly discovery: Discovery | undefined;
}

class Controller implements GoconcApi {
  client: LanguageClient | undefined;
  discovery: Discovery | undefined;
  /** Starts and stops run one after another, in the order asked. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly context: vscode.ExtensionContext,
    readonly output: vscode.OutputChannel,
  ) {}

  log(message: string): void {
    this.output.appendLine(`[client ${new Date().toISOString()}] ${message}`);
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(op).catch((e) => this.log(`error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`));
    return this.queue;
  }

  start(): Promise<void> {
    return this.enqueue(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.enqueue(() => this.doStop());
  }

  restart(why: string): Promise<void> {
    return this.enqueue(async () => {
      this.log(`restarting the server (${why})`);
      await this.doStop();
      await this.doStart();
    });
  }

  private config(scope?: vscode.Uri) {
    const cfg = vscode.workspace.getConfiguration(SECTION, scope);
    return readSettings((key, def) => cfg.get(key, def));
  }

  /** The settings sent to the server (initializationOptions and workspace/configuration). */
  private serverSettings(scope?: vscode.Uri, report = false) {
    const { settings, problems } = toServerSettings(this.config(scope));
    if (report) {
      for (const p of problems) {
        this.log(`setting ignored: ${p}`);
      }
      if (problems.length > 0) {
        void vscode.window.showWarningMessage(`goconc: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more, see the log)` : ''}`);
      }
    }
    return settings;
  }

  private async doStart(): Promise<void> {
    const settings = this.config();
    const discovery = await findServer(
      {
        settingPath: settings.serverPath,
        envPath: process.env[ENV_VAR],
        extensionPath: this.context.extensionPath,
        pathEnv: process.env.PATH,
        platform: process.platform,
        homeDir: os.homedir(),
        workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
      },
      { isFile, probe: (c) => probe(c) },
    );
    this.discovery = discovery;
    for (const a of discovery.attempts) {
      this.log(`not using ${a.candidate.path} (${a.candidate.source}): ${a.reason}`);
    }
    if (!discovery.ok) {
      this.log(discovery.message);
      void this.showStartError(discovery.message);
      return;
    }
    this.log(`starting ${discovery.path} lsp --stdio (goconc ${discovery.version}, from ${discovery.source})`);

    const serverOptions: ServerOptions = {
      command: discovery.path,
      args: ['lsp', '--stdio'],
      options: { env: { ...process.env } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: 'file', language: 'go' },
        { scheme: 'untitled', language: 'go' },
      ],
      diagnosticCollectionName: 'goconc',
      outputChannel: this.output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      // A function: read again when the client restarts a crashed server.
      initializationOptions: () => this.serverSettings(undefined, true),
      synchronize: { configurationSection: SECTION },
      middleware: {
        workspace: {
          // The server asks for section `goconc`: answer with the settings it understands,
          // validated the same way as initializationOptions.
          configuration: async (params, token, next) => {
            const result = await next(params, token);
            if (!Array.isArray(result)) {
              return result;
            }
            return params.items.map((item, i) =>
              item.section === SECTION
                ? this.serverSettings(item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined)
                : result[i],
            );
          },
        },
      },
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue }),
        closed: () => {
          this.crashes.push(Date.now());
          this.crashes = this.crashes.filter((t) => Date.now() - t < 3 * 60_000);
          if (this.crashes.length <= 4) {
            this.log('the server stopped; starting it again');
            return { action: CloseAction.Restart };
          }
          const message = 'The goconc server stopped 5 times in 3 minutes and will not be restarted. See the log; "goconc: Restart Server" tries again.';
          this.log(message);
          void this.showStartError(message);
          return { action: CloseAction.DoNotRestart, handled: true };
        },
      },
    };
    const client = new LanguageClient('goconc', 'goconc', serverOptions, clientOptions);
    this.client = client;
    try {
      await client.start();
      this.log(`server running: ${client.initializeResult?.serverInfo?.name ?? 'goconc'} ${client.initializeResult?.serverInfo?.version ?? ''}`);
    } catch (e) {
      const message = `The goconc server (${discovery.path}) failed to start: ${e instanceof Error ? e.message : String(e)}`;
      this.log(message);
      this.client = undefined;
      void this.showStartError(message);
      try {
        await client.dispose(2000);
      } catch {
        // already gone
      }
    }
  }

  private crashes: number[] = [];

  /** The running client, or a warning that there is none. */
  private running(): LanguageClient | undefined {
    if (!this.client?.isRunning()) {
      void vscode.window.showWarningMessage('goconc: the server is not running (see "goconc: Show Server Log").');
      return undefined;
    }
    return this.client;
  }

  /** "goconc: Fix All Safe Problems in This File": the server's goconc.fixAll on the active editor. */
  async fixAllInFile(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.document.languageId !== 'go') {
      void vscode.window.showInformationMessage('goconc: open a Go file to fix.');
      return;
    }
    const client = this.running();
    if (!client) return;
    try {
      const result = await client.sendRequest(ExecuteCommandRequest.type, {
        command: SERVER_FIX_ALL,
        arguments: [client.code2ProtocolConverter.asUri(editor.document.uri)],
      });
      if (result?.fixes === 0) {
        void vscode.window.showInformationMessage('goconc: no safe fixes in this file (unsafe ones are offered one by one, Ctrl+.).');
      }
    } catch (e) {
      void vscode.window.showErrorMessage(`goconc: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /**
   * "goconc: Explain Rule…": the rule of the goconc finding under the cursor, else one picked from
   * the catalog; the server opens its page.
   */
  async explainRule(): Promise<void> {
    const client = this.running();
    if (!client) return;
    let rule: string | undefined;
    const editor = vscode.window.activeTextEditor;
    if (editor) {
      const here = vscode.languages
        .getDiagnostics(editor.document.uri)
        .find((d) => d.source === 'goconc' && d.range.contains(editor.selection.active));
      const code = here?.code;
      rule = typeof code === 'object' ? String(code.value) : code !== undefined ? String(code) : undefined;
    }
    if (!rule) {
      const known = this.context.extension.packageJSON?.contributes?.configuration?.properties?.['goconc.rules']?.properties ?? {};
      rule = await vscode.window.showQuickPick(Object.keys(known), { placeHolder: 'The goconc rule to explain' });
    }
    if (!rule) return;
    try {
      await client.sendRequest(ExecuteCommandRequest.type, { command: SERVER_EXPLAIN, arguments: [rule] });
    } catch (e) {
      void vscode.window.showErrorMessage(`goconc: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) {
      return;
    }
    try {
      // dispose = stop (shutdown + exit, waiting up to 2 s) and release the client's listeners.
      await client.dispose(2000);
    } catch (e) {
      this.log(`stopping the server: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private async showStartError(message: string): Promise<void> {
    const choice = await vscode.window.showErrorMessage(`goconc: ${message}`, OPEN_SETTING, SHOW_LOG);
    if (choice === OPEN_SETTING) {
      // goconc.server.path is machine-scoped: in a remote window (Remote-SSH, WSL, code-server) it
      // is a Remote setting, which the User tab does not show.
      const command = vscode.env.remoteName ? 'workbench.action.openRemoteSettings' : 'workbench.action.openSettings';
      await vscode.commands.executeCommand(command, { query: 'goconc.server.path' });
    } else if (choice === SHOW_LOG) {
      this.output.show(true);
    }
  }
}

let controller: Controller | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<GoconcApi> {
  const output = vscode.window.createOutputChannel('goconc');
  const ctl = new Controller(context, output);
  controller = ctl;
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand('goconc.restartServer', () => ctl.restart('goconc: Restart Server')),
    vscode.commands.registerCommand('goconc.showLog', () => output.show(true)),
    vscode.commands.registerCommand('goconc.fixAllInFile', () => ctl.fixAllInFile()),
    vscode.commands.registerCommand('goconc.explainRule', () => ctl.explainRule()),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (needsRestart((s) => e.affectsConfiguration(s))) {
        // After the running client's own listener has sent didChangeConfiguration to the old
        // server, not while it is being stopped.
        setTimeout(() => void ctl.restart('goconc.server.path changed'), 0);
      }
    }),
  );
  void ctl.start();
  return ctl;
}

export async function deactivate(): Promise<void> {
  const ctl = controller;
  controller = undefined;
  await ctl?.stop();
}
