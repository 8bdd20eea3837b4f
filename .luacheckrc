-- luacheck configuration for src/store.lua, a Redis 7 Function library
-- (ctest lint_lua, tests/lint/lint.sh lua). Redis runs Lua 5.1 with these
-- globals, read-only; the library defines none of its own.
std = "lua51"
read_globals = {"redis", "cmsgpack", "cjson", "bit", "struct"}
max_line_length = 100
