-- Neovim 0.7+ (Debian bookworm's 0.7.2): goconc through vim.lsp.start_client +
-- vim.lsp.buf_attach_client, against a real goconc.
--
--   GOCONC_BIN=target/release/goconc nvim --headless -u NONE -c 'luafile editors/neovim/test/test_07.lua'
--
-- GOCONC_NVIM_MODE picks what starts the client and how the rule's severity is set to `info`:
--   setup (default)  require('goconc').setup() from editors/neovim/lua/goconc.lua, which uses
--                    start_client + buf_attach_client on 0.7 and vim.lsp.start on 0.8+, with
--                    `settings.goconc` (0.7 neither pushes settings nor answers
--                    workspace/configuration: they reach the server as initializationOptions only
--                    because lsp/goconc.lua's before_init sends them so)
--   setup-init       the same with `init_options` (on 0.8+ the settings Neovim pushes and answers
--                    would override them with {}, unless before_init folds them into settings)
--   raw              the README's plain 0.7 snippet, no module (start_client + buf_attach_client),
--                    with `init_options`
--   raw-08           the README's plain 0.8–0.10 snippet, no module (vim.lsp.start), with
--                    `init_options` (needs 0.8+: run it with a newer Neovim)
-- Ends with :qa! when every step passed, :cquit 1 with a FAIL line on stderr otherwise (20 s at
-- most, GOCONC_TEST_TIMEOUT_MS to change).
local here = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h')
local H = dofile(here .. '/helpers.lua')
H.exit = function(code)
  vim.cmd('cquit ' .. code)
end

local mode = os.getenv('GOCONC_NVIM_MODE') or 'setup'
local v = vim.version()

H.run(string.format('nvim-%d.%d.%d %s', v.major, v.minor, v.patch, mode), function()
  local bin = os.getenv('GOCONC_BIN') or ''
  H.check(vim.fn.executable(bin) == 1, 'GOCONC_BIN must name the goconc binary under test (got %q)', bin)
  vim.cmd('filetype on') -- -u NONE leaves filetype detection off; a real config has it on
  local dir, file = H.scratch()
  vim.cmd('cd ' .. vim.fn.fnameescape(dir)) -- Neovim started in the project (the raw snippet's root)

  local options = { rules = { [H.rule] = 'info' } }
  local cmd = { bin, 'lsp', '--stdio' }
  if mode == 'setup' then
    vim.opt.runtimepath:prepend(H.repo .. '/editors/neovim')
    require('goconc').setup({ cmd = cmd, settings = { goconc = options } })
  elseif mode == 'setup-init' then
    vim.opt.runtimepath:prepend(H.repo .. '/editors/neovim')
    require('goconc').setup({ cmd = cmd, init_options = options })
  elseif mode == 'raw' then
    -- The README's snippet for Neovim 0.7 (root: the current folder), with cmd and init_options.
    local goconc = { name = 'goconc', cmd = cmd, init_options = options, root_dir = vim.fn.getcwd() }
    vim.api.nvim_create_autocmd('FileType', { pattern = 'go', callback = function(args)
      goconc.id = goconc.id or vim.lsp.start_client(goconc)
      vim.lsp.buf_attach_client(args.buf, goconc.id)
    end })
  elseif mode == 'raw-08' then
    -- The README's snippet for Neovim 0.8–0.10, with cmd and init_options.
    vim.api.nvim_create_autocmd('FileType', { pattern = 'go', callback = function(args)
      local found = vim.fs.find({ 'go.mod', 'go.work', '.git' }, { upward = true, path = vim.fs.dirname(args.file) })
      vim.lsp.start({ name = 'goconc', cmd = cmd, init_options = options, root_dir = vim.fs.dirname(found[1]) })
    end })
  else
    H.fail('GOCONC_NVIM_MODE must be setup, setup-init, raw or raw-08, not ' .. mode)
  end

  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  local buf = vim.api.nvim_get_current_buf()
  H.eq('go', vim.bo[buf].filetype, 'filetype of ' .. file)

  local client
  H.wait('goconc to attach to the buffer', function()
    local clients = vim.lsp.get_clients and vim.lsp.get_clients({ bufnr = buf }) or vim.lsp.buf_get_clients(buf)
    for _, c in pairs(clients) do
      if c.name == 'goconc' and c.initialized then
        client = c
        return true
      end
    end
    return false
  end)
  H.eq(dir, client.config.root_dir, 'root_dir (the folder with go.mod)')
  if mode == 'setup' or mode == 'setup-init' then
    H.eq(options, client.config.settings.goconc, 'settings.goconc after before_init')
  end
  H.log(string.format('attached %s via %s, root %s, position encoding %s', client.name,
    (mode == 'raw' or (mode ~= 'raw-08' and not vim.lsp.start)) and 'start_client + buf_attach_client' or 'vim.lsp.start',
    client.config.root_dir, client.offset_encoding))

  H.scenario(buf, client, {
    -- 0.7's vim.lsp.buf.code_action has no filter/apply: ask, pick, apply the WorkspaceEdit.
    quickfix = function(b, c, d)
      local fix = H.find_action(H.code_actions(b, c, d), function(a)
        return a.kind == 'quickfix' and a.isPreferred == true
      end, 'quickfix + isPreferred')
      H.apply(fix, c)
    end,
  }, vim.diagnostic.severity.INFO)

  H.stop(client)
  vim.cmd('bwipeout!')
  H.cleanup(dir)
  H.log('PASS')
end)
vim.cmd('qa!')
