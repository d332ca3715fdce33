-- goconc for Neovim 0.7–0.10 (Neovim 0.11+ needs none of this: vim.lsp.enable('goconc')).
--
--   require('goconc').setup({ settings = { goconc = { goVersion = '1.21' } } })
--
-- starts one goconc per project root (go.mod, go.work or .git above the file) for every Go
-- buffer, with the same configuration as lsp/goconc.lua; `opts` is merged over it.
local M = {}

-- The configuration that lsp/goconc.lua returns (the one Neovim 0.11 uses).
function M.config()
  local file = vim.api.nvim_get_runtime_file('lsp/goconc.lua', false)[1]
  assert(file, 'goconc: lsp/goconc.lua is not on the runtimepath')
  return dofile(file)
end

-- The project root of `path`: for the first of `markers` found in a folder above it, that
-- folder (as Neovim 0.11 reads root_markers: the list order is the priority), or nil.
function M.root(path, markers)
  local start = vim.fn.fnamemodify(path, ':p:h')
  for _, marker in ipairs(markers) do
    local dir = start
    while true do
      if vim.loop.fs_stat(dir .. '/' .. marker) then
        return dir
      end
      local parent = vim.fn.fnamemodify(dir, ':h')
      if parent == dir then
        break
      end
      dir = parent
    end
  end
  return nil
end

local clients = {} -- root -> client id, for Neovim 0.7 (0.8+ reuses clients itself)

-- Starts (or reuses) the client of the buffer's root and attaches the buffer.
function M.attach(bufnr, config)
  local path = vim.api.nvim_buf_get_name(bufnr)
  if path == '' or vim.bo[bufnr].buftype ~= '' then
    return
  end
  local root = M.root(path, config.root_markers or {}) or vim.fn.fnamemodify(path, ':p:h')
  local client_config = vim.tbl_extend('force', config, { name = 'goconc', root_dir = root })
  if vim.lsp.start then -- 0.8+
    return vim.lsp.start(client_config, { bufnr = bufnr })
  end
  local id = clients[root]
  if not id or not vim.lsp.get_client_by_id(id) then
    id = vim.lsp.start_client(client_config)
    clients[root] = id
  end
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

function M.setup(opts)
  local config = vim.tbl_deep_extend('force', M.config(), opts or {})
  local group = vim.api.nvim_create_augroup('goconc', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = config.filetypes,
    callback = function(args)
      M.attach(args.buf, config)
    end,
  })
  -- Go buffers opened before setup() ran.
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(config.filetypes, vim.bo[bufnr].filetype) then
      M.attach(bufnr, config)
    end
  end
end

return M
