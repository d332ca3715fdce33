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

  -- The background check's progress, as a statusline plugin would see it.
  local progress = {}
  vim.api.nvim_create_autocmd('LspProgress', {
    callback = function(ev)
      local value = ev.data and ev.data.params and ev.data.params.value or {}
      table.insert(progress, { kind = value.kind, title = value.title, message = value.message })
    end,
  })
  vim.lsp.enable('goconc')

  local dir, file = H.scratch()
  -- A file of the project the user never opens, and where the server writes rule pages.
  vim.fn.mkdir(dir .. '/sub', 'p')
  local closed = dir .. '/sub/closed.go'
  H.write(closed, 'package sub\n\nimport "sync"\n\nvar mu sync.Mutex\n\nfunc f() {\n\tmu.Lock()\n\tdefer mu.Lock()\n}\n')
  vim.env.XDG_CACHE_HOME = dir .. '/.cache'
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

  -- The project's other files: their findings reach vim.diagnostic (`:lua vim.diagnostic.setqflist()`)
  -- without being opened, and the check showed its progress.
  local closed_buf = vim.uri_to_bufnr(vim.uri_from_fname(closed))
  H.wait('the findings of sub/closed.go, never opened', function()
    return #H.diagnostics(closed_buf) == 1
  end)
  H.eq('8:7 ' .. H.rule, H.summary(closed_buf)[1], 'the finding of sub/closed.go')
  H.check(not vim.api.nvim_buf_is_loaded(closed_buf), 'sub/closed.go was loaded')
  H.wait('the end of the background check\'s progress', function()
    return #progress > 0 and progress[#progress].kind == 'end'
  end, function()
    return vim.inspect(progress)
  end)
  H.eq('goconc: checking the workspace', progress[1].title, 'the progress title')
  H.eq('2 files checked: 1 finding', progress[#progress].message, 'the progress end (positive.go is open)')
  H.log('workspace diagnostics: ' .. progress[#progress].message)

  -- Hover on a finding (K): the rule explained, under gopls's where both run.
  H.wait('the diagnostics of the open file', function()
    return #H.diagnostics(buf) > 0
  end)
  local first = H.diagnostics(buf)[1]
  local hovers = vim.lsp.buf_request_sync(buf, 'textDocument/hover', {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = first.lnum, character = first.col + 1 },
  }, math.max(H.left(), 1))
  local hover = hovers and hovers[client.id] and hovers[client.id].result
  H.check(hover and hover.contents and hover.contents.kind == 'markdown', 'no hover: %s', vim.inspect(hovers))
  H.check(hover.contents.value:find('#### Why it matters', 1, true), 'hover without "Why it matters": %s',
    hover.contents.value)
  H.check(hover.contents.value:find('#### Fix', 1, true), 'hover without the fix: %s', hover.contents.value)
  H.log('hover: ' .. vim.split(hover.contents.value, '\n')[1])

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

  -- goconc.explain, as the README's snippet runs it (and the "Show documentation" action does):
  -- the page opens in a buffer.
  client:exec_cmd({ title = 'explain', command = 'goconc.explain', arguments = { H.rule } }, { bufnr = buf })
  H.wait('the rule page in a buffer', function()
    local name = vim.api.nvim_buf_get_name(0)
    return name:find('/rule-pages/', 1, true) ~= nil and vim.endswith(name, '/' .. H.rule .. '.md')
  end, function()
    return 'current buffer: ' .. vim.api.nvim_buf_get_name(0)
  end)
  H.eq('# ' .. H.rule, vim.api.nvim_buf_get_lines(0, 0, 1, false)[1], 'the first line of the rule page')
  H.log('explain: opened ' .. vim.fn.fnamemodify(vim.api.nvim_buf_get_name(0), ':t'))

  H.stop(client)
  vim.cmd('bwipeout!')
  H.cleanup(dir)
  H.log('PASS')
end)
