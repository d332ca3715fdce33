-- Shared by test_011.lua (Neovim 0.11+) and test_07.lua (Neovim 0.7+): plain Lua that runs on
-- both, no plugin. Each test drives a real Neovim, a real goconc and a copy of a fixture.
local H = {}

H.here = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h') -- editors/neovim/test
H.repo = vim.fn.fnamemodify(H.here, ':h:h:h')
H.fixture = H.repo .. '/tests/fixtures/mutex-defer-lock/positive.go'
H.rule = 'mutex-defer-lock'
-- 0-based lines of the fixture's five `// want "mutex-defer-lock"` findings.
H.lines = { 12, 24, 32, 40, 51 }

local started = vim.loop.hrtime()
local timeout_ms = tonumber(os.getenv('GOCONC_TEST_TIMEOUT_MS') or '') or 20000
local label = 'nvim'

local function out(msg)
  io.stdout:write(msg .. '\n')
  io.stdout:flush()
end

local function elapsed_ms()
  return math.floor((vim.loop.hrtime() - started) / 1e6)
end

function H.log(msg)
  out(string.format('[%s %5d ms] %s', label, elapsed_ms(), msg))
end

-- How the test ends: set by the caller (os.exit under -l, cquit under luafile).
H.exit = function(code)
  os.exit(code)
end

function H.fail(msg)
  io.stderr:write(string.format('\nFAIL [%s %d ms]: %s\n', label, elapsed_ms(), msg))
  io.stderr:flush()
  H.exit(1)
  error('goconc test failed: ' .. msg, 0) -- if exit returns (it should not)
end

function H.check(cond, msg, ...)
  if not cond then
    H.fail(string.format(msg, ...))
  end
end

function H.eq(want, got, what)
  if not vim.deep_equal(want, got) then
    H.fail(string.format('%s:\n  want %s\n  got  %s', what, vim.inspect(want), vim.inspect(got)))
  end
end

function H.read(path)
  local f = assert(io.open(path, 'rb'))
  local text = f:read('*a')
  f:close()
  return text
end

function H.write(path, text)
  local f = assert(io.open(path, 'wb'))
  f:write(text)
  f:close()
end

-- Milliseconds left before the whole test times out.
function H.left()
  return timeout_ms - elapsed_ms()
end

-- Waits until cond() is true; fails with `what` (and describe(), when given) on timeout.
function H.wait(what, cond, describe)
  local ok = vim.wait(math.max(H.left(), 0), cond, 20)
  if not ok then
    H.fail(
      string.format('timed out after %d ms waiting for %s%s', timeout_ms, what, describe and ('\n' .. describe()) or '')
    )
  end
end

-- Runs the test body; any Lua error fails the test (a headless Neovim would otherwise hang on it).
function H.run(name, body)
  label = name
  local ok, err = xpcall(body, debug.traceback)
  if not ok then
    H.fail(tostring(err))
  end
end

-- A scratch module: a temporary folder with a go.mod and a copy of the fixture.
function H.scratch()
  local dir = vim.fn.tempname() .. '-goconc'
  vim.fn.mkdir(dir, 'p')
  dir = vim.loop.fs_realpath(dir)
  H.write(dir .. '/go.mod', 'module example.com/demo\n\ngo 1.22\n')
  local file = dir .. '/positive.go'
  H.write(file, H.read(H.fixture))
  return dir, file
end

function H.cleanup(dir)
  if dir and dir:find('goconc', 1, true) then
    vim.fn.delete(dir, 'rf')
  end
end

function H.buf_text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n') .. '\n'
end

-- goconc's diagnostics of the buffer, sorted by line.
function H.diagnostics(buf)
  local out_ = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    if d.source == 'goconc' then
      table.insert(out_, d)
    end
  end
  table.sort(out_, function(a, b)
    return a.lnum < b.lnum or (a.lnum == b.lnum and a.col < b.col)
  end)
  return out_
end

-- `{ "LINE:COL CODE" … }` (0-based), what the assertions compare.
function H.summary(buf)
  local s = {}
  for _, d in ipairs(H.diagnostics(buf)) do
    table.insert(s, string.format('%d:%d %s', d.lnum, d.col, tostring(d.code)))
  end
  return s
end

local function describe_diagnostics(buf)
  return function()
    return '  goconc diagnostics now: ' .. vim.inspect(H.summary(buf))
  end
end

-- Waits until goconc's diagnostics are exactly `want` (a list of 0-based lines, all `H.rule`).
function H.wait_lines(buf, want, what)
  local want_set = {}
  for _, l in ipairs(want) do
    table.insert(want_set, l)
  end
  H.wait(what .. ' (goconc diagnostics on lines ' .. vim.inspect(want) .. ')', function()
    local ds = H.diagnostics(buf)
    if #ds ~= #want_set then
      return false
    end
    for i, d in ipairs(ds) do
      if d.lnum ~= want_set[i] or d.code ~= H.rule then
        return false
      end
    end
    return true
  end, describe_diagnostics(buf))
end

-- The LSP form of a diagnostic Neovim holds (0.11 keeps it in user_data.lsp; 0.7 keeps part).
function H.lsp_diagnostic(d)
  local lsp = (d.user_data and d.user_data.lsp) or {}
  local range = lsp.range
    or {
      start = { line = d.lnum, character = d.col },
      ['end'] = { line = d.end_lnum or d.lnum, character = d.end_col or d.col },
    }
  return {
    range = range,
    severity = d.severity,
    code = d.code,
    source = d.source,
    message = d.message,
  }
end

-- textDocument/codeAction straight to goconc: its actions (a list).
function H.code_actions(buf, client, d, only)
  local ld = H.lsp_diagnostic(d)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    range = ld.range,
    context = { diagnostics = { ld }, only = only },
  }
  local responses, err = vim.lsp.buf_request_sync(buf, 'textDocument/codeAction', params, math.max(H.left(), 1))
  H.check(responses, 'textDocument/codeAction got no answer: %s', tostring(err))
  local r = responses[client.id]
  H.check(r, 'goconc did not answer textDocument/codeAction: %s', vim.inspect(responses))
  H.check(not r.error and not r.err, 'textDocument/codeAction failed: %s', vim.inspect(r.error or r.err))
  return r.result or {}
end

function H.find_action(actions, pred, what)
  for _, a in ipairs(actions) do
    if pred(a) then
      return a
    end
  end
  H.fail(string.format('no code action %s among:\n%s', what, vim.inspect(vim.tbl_map(function(a)
    return { title = a.title, kind = a.kind, isPreferred = a.isPreferred }
  end, actions))))
end

-- Applies a code action's WorkspaceEdit the way Neovim does, in the client's position encoding.
function H.apply(action, client)
  H.check(action.edit, 'code action %q has no edit', tostring(action.title))
  vim.lsp.util.apply_workspace_edit(action.edit, client.offset_encoding)
end

-- Lines of `text` as a list (without the final newline's empty line).
function H.split(text)
  local lines = vim.split(text, '\n', { plain = true })
  if lines[#lines] == '' then
    table.remove(lines)
  end
  return lines
end

-- Asserts the buffer differs from `before` (a text) only on the 0-based line `lnum`, which now
-- reads `want_line`.
function H.only_line_changed(buf, before, lnum, want_line)
  local now = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  local was = H.split(before)
  H.eq(#was, #now, 'line count after the quick fix')
  for i = 1, #now do
    if i - 1 == lnum then
      H.eq(want_line, now[i], 'line ' .. i .. ' after the quick fix')
    else
      H.eq(was[i], now[i], 'line ' .. i .. ' (should be untouched by the quick fix)')
    end
  end
end

local function shifted(lines, from, by)
  local out_ = {}
  for _, l in ipairs(lines) do
    table.insert(out_, l >= from and l + by or l)
  end
  return out_
end

-- The scenario both Neovims run once goconc is attached to `buf` (the fixture copy).
-- `client` is the goconc client; `how.quickfix(buf, client, d)` applies the preferred quick fix
-- of diagnostic `d` the way that Neovim's user would; `how.fix_all(buf, client, d)` (optional)
-- applies "Fix all goconc problems" so (by default: textDocument/codeAction with
-- only = source.fixAll.goconc, then apply_workspace_edit in the client's encoding).
-- `severity` is what the settings under test set for the rule (vim.diagnostic.severity.X).
function H.scenario(buf, client, how, severity)
  local golden = H.read(H.fixture .. '.golden')
  local original = H.read(H.fixture)

  -- 1. Diagnostics on open: five, code = rule id, at the deferred call.
  H.wait_lines(buf, H.lines, 'diagnostics after opening')
  local first = H.diagnostics(buf)[1]
  H.eq(7, first.col, 'column of the first diagnostic (`registryMu.Lock()` on line 13)')
  H.eq(severity, first.severity, 'severity of the first diagnostic (set through the settings)')
  H.check(first.message:find('defer registryMu.Unlock()', 1, true), 'unexpected message: %s', first.message)
  H.log('diagnostics on open: ' .. table.concat(H.summary(buf), ', '))

  -- 2. Incremental changes: two lines typed below `package`, then deleted again.
  vim.api.nvim_buf_set_lines(buf, 1, 1, false, { '// typed by the test', '' })
  H.wait_lines(buf, shifted(H.lines, 1, 2), 'diagnostics to move down 2 lines after an insert')
  vim.api.nvim_buf_set_lines(buf, 1, 3, false, {})
  H.wait_lines(buf, H.lines, 'diagnostics to move back after deleting the lines')
  H.eq(original, H.buf_text(buf), 'buffer text after insert + delete')
  H.log('diagnostics followed an insert and a delete (incremental didChange)')

  -- 3. Code actions at the first finding: the preferred quick fix, the ignore action, fix-all.
  first = H.diagnostics(buf)[1]
  local actions = H.code_actions(buf, client, first)
  local fix = H.find_action(actions, function(a)
    return a.kind == 'quickfix' and a.isPreferred == true
  end, 'quickfix + isPreferred')
  H.eq('Change to `defer registryMu.Unlock()`', fix.title, 'title of the preferred quick fix')
  H.find_action(actions, function(a)
    return a.kind == 'quickfix' and a.title == 'Ignore ' .. H.rule .. ' on this line'
  end, '"Ignore ' .. H.rule .. ' on this line"')
  H.find_action(actions, function(a)
    return a.kind == 'source.fixAll.goconc'
  end, 'source.fixAll.goconc')
  H.log('code actions: ' .. table.concat(vim.tbl_map(function(a)
    return a.title
  end, actions), ' | '))

  -- 4. The quick fix: only line 13 changes, to the golden line; its diagnostic goes away.
  local golden_lines = H.split(golden)
  how.quickfix(buf, client, first)
  H.wait('the quick fix to change line 13', function()
    return vim.api.nvim_buf_get_lines(buf, 12, 13, false)[1] == golden_lines[13]
  end, function()
    return '  line 13 is: ' .. vim.inspect(vim.api.nvim_buf_get_lines(buf, 12, 13, false)[1])
  end)
  H.only_line_changed(buf, original, 12, golden_lines[13])
  H.wait_lines(buf, { 24, 32, 40, 51 }, 'the fixed diagnostic to disappear')
  H.log('quick fix applied: line 13 = ' .. vim.trim(golden_lines[13]))

  -- 5. Fix all: the buffer becomes the golden text, and no diagnostic is left.
  local rest = H.diagnostics(buf)[1]
  local fix_all = how.fix_all or function(b, c, d)
    local all = H.find_action(H.code_actions(b, c, d, { 'source.fixAll.goconc' }), function(a)
      return a.kind == 'source.fixAll.goconc'
    end, 'source.fixAll.goconc (context.only)')
    H.eq('Fix all goconc problems', all.title, 'title of the fix-all action')
    H.apply(all, c)
  end
  fix_all(buf, client, rest)
  H.wait('fix-all to make the buffer equal positive.go.golden', function()
    return H.buf_text(buf) == golden
  end, function()
    return '  buffer now:\n' .. H.buf_text(buf)
  end)
  H.wait_lines(buf, {}, 'every diagnostic to disappear after fix-all')
  H.log('fix-all applied: buffer == positive.go.golden, no diagnostics left')

  -- 6. Typing new code at the end brings a new finding; "Ignore … on this line" silences it.
  local n = vim.api.nvim_buf_line_count(buf)
  vim.api.nvim_buf_set_lines(buf, n, n, false, {
    '',
    'func Again() {',
    '\tvar mu sync.Mutex',
    '\tmu.Lock()',
    '\tdefer mu.Lock()',
    '}',
  })
  local at = n + 4 -- 0-based line of `defer mu.Lock()`
  H.wait_lines(buf, { at }, 'a diagnostic on the typed `defer mu.Lock()`')
  local typed = H.diagnostics(buf)[1]
  H.eq(7, typed.col, 'column of the diagnostic on the typed line')
  -- Long after the server pulled workspace/configuration: the settings still hold.
  H.eq(severity, typed.severity, 'severity of the diagnostic on the typed line (settings still in force)')
  local ignore = H.find_action(H.code_actions(buf, client, typed), function(a)
    return a.title == 'Ignore ' .. H.rule .. ' on this line'
  end, 'ignore')
  H.apply(ignore, client)
  H.eq('\t//goconc:ignore ' .. H.rule .. ' reason', vim.api.nvim_buf_get_lines(buf, at, at + 1, false)[1],
    'the line the ignore action inserted')
  H.wait_lines(buf, {}, 'the ignored diagnostic to disappear')
  H.log('typed a new finding at line ' .. (at + 1) .. '; "Ignore" silenced it')
end

-- Stops the client and waits for the server to exit.
function H.stop(client)
  vim.lsp.stop_client(client.id)
  H.wait('goconc to stop', function()
    return vim.lsp.get_client_by_id(client.id) == nil
  end)
end

function H.set_label(name)
  label = name
end

return H
