-- Neovim 0.11+: the shipped lsp/goconc.lua through vim.lsp.enable('goconc'), against a real goconc.
--
--   GOCONC_BIN=target/release/goconc \
--     nvim --headless --clean --cmd 'set rtp^=editors/neovim' -l editors/neovim/test/test_011.lua
--
-- Exits 0 when every step passed, 1 with a FAIL line on stderr otherwise (20 s at most,
-- GOCONC_TEST_TIMEOUT_MS to change).
local here = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h')
local H = dofile(here .. '/helpers.lua')

H.run('nvim-' .. tostring(vim.version()), function()
  H.check(vim.fn.has('nvim-0.11') == 1, 'this test needs Neovim 0.11+, this is %s', tostring(vim.version()))
  local bin = os.getenv('GOCONC_BIN') or ''
  H.check(vim.fn.executable(bin) == 1, 'GOCONC_BIN must name the goconc binary under test (got %q)', bin)

  -- The config vim.lsp.config sees is the shipped file.
  local files = vim.api.nvim_get_runtime_file('lsp/goconc.lua', true)
  H.eq(H.repo .. '/editors/neovim/lsp/goconc.lua', files[1] and vim.loop.fs_realpath(files[1]),
    'the lsp/goconc.lua found on the runtimepath (start with --cmd "set rtp^=editors/neovim")')
  local shipped = vim.lsp.config.goconc
  H.check(shipped, 'vim.lsp.config.goconc is nil: lsp/goconc.lua was not loaded')
  H.eq({ 'goconc', 'lsp', '--stdio' }, shipped.cmd, 'cmd of the shipped config')
  H.eq({ 'go' }, shipped.filetypes, 'filetypes of the shipped config')
  H.eq({ 'go.mod', 'go.work', '.git' }, shipped.root_markers, 'root_markers of the shipped config')

  -- Only the command changes: the binary under test. The settings prove they reach the server.
  vim.lsp.config('goconc', {
    cmd = { bin, 'lsp', '--stdio' },
    settings = { goconc = { rules = { [H.rule] = 'warning' } } },
  })
  vim.lsp.enable('goconc')

  local dir, file = H.scratch()
  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  local buf = vim.api.nvim_get_current_buf()
  H.eq('go', vim.bo[buf].filetype, 'filetype of ' .. file)

  local client
  H.wait('goconc to attach to the buffer', function()
    client = vim.lsp.get_clients({ bufnr = buf, name = 'goconc' })[1]
    return client ~= nil and client.initialized == true
  end)
  H.eq(dir, client.root_dir, 'root_dir (the folder with go.mod)')
  H.eq({ rules = { [H.rule] = 'warning' } }, client.settings.goconc, 'settings.goconc of the client')
  H.log(string.format('attached %s %s, root %s, position encoding %s', client.name,
    client.server_info and client.server_info.version or '?', client.root_dir, client.offset_encoding))

  -- What a user does: vim.lsp.buf.code_action, no menu (apply = true once one action is left).
  H.scenario(buf, client, {
    quickfix = function(b, _, d) -- cursor on the finding, the preferred quick fix
      vim.api.nvim_win_set_cursor(0, { d.lnum + 1, d.col })
      vim.lsp.buf.code_action({
        apply = true,
        filter = function(a)
          return a.kind == 'quickfix' and a.isPreferred == true
        end,
      })
      H.check(vim.api.nvim_get_current_buf() == b, 'code_action switched buffers')
    end,
    fix_all = function() -- the README's fix-all command
      vim.lsp.buf.code_action({ context = { only = { 'source.fixAll.goconc' } }, apply = true })
    end,
  }, vim.diagnostic.severity.WARN)

  H.stop(client)
  vim.cmd('bwipeout!')
  H.cleanup(dir)
  H.log('PASS')
end)
