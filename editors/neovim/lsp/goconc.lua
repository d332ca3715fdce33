-- goconc: reviews Go code for concurrency mistakes (a language server).
--
-- Neovim 0.11+: put the folder that holds this lsp/ folder on 'runtimepath' (or copy this file
-- to ~/.config/nvim/lsp/goconc.lua), then
--
--   vim.lsp.enable('goconc')
--
-- Change anything with vim.lsp.config, for example:
--
--   vim.lsp.config('goconc', {
--     settings = { goconc = { rules = { ['mutex-defer-lock'] = 'warning' }, goVersion = '1.21' } },
--   })
--
-- Settings (section `goconc`): rules = { [rule-id] = 'off'|'hint'|'info'|'warning'|'error' },
-- goVersion = '1.21', runOutsideModule = true|false, logLevel = 'info', rulesBaseUrl = '…',
-- workspaceDiagnostics = true|false|{ maxFiles = N, threads = N }.
-- `goconc rules` lists the rule ids.

---@type vim.lsp.Config
return {
  cmd = { 'goconc', 'lsp', '--stdio' },
  filetypes = { 'go' },
  root_markers = { 'go.mod', 'go.work', '.git' },
  settings = {
    goconc = {},
  },
  -- The server reads its settings three ways: `initializationOptions`, `workspace/configuration`
  -- and `workspace/didChangeConfiguration`, and the last one read wins. Keep them one: whatever
  -- is in `init_options` is folded into `settings.goconc` (settings win on a clash), and the
  -- result is sent as `initializationOptions` too, so the first diagnostics already use it.
  before_init = function(params, config)
    config.settings = config.settings or {}
    local merged = vim.tbl_deep_extend('force', config.init_options or {}, config.settings.goconc or {})
    if next(merged) == nil then
      merged = vim.empty_dict()
    end
    config.settings.goconc = merged
    params.initializationOptions = merged
  end,
}
