# cmake/store_lua.cmake - embeds the Redis Function library src/store.lua into
# a C header, as web/build.mjs embeds the banner.
#   cmake -DIN=src/store.lua -DOUT=<build>/generated/store_lua.h -P cmake/store_lua.cmake
# The header defines STORE_LIBRARY_VERSION (the file's `local VERSION = N`:
# one definition, read by both Redis and consentd) and STORE_LIBRARY_SOURCE,
# the file's exact bytes, NUL-terminated. src/store.c includes it.
if(NOT IN OR NOT OUT)
  message(FATAL_ERROR "usage: cmake -DIN=store.lua -DOUT=store_lua.h -P store_lua.cmake")
endif()
if(NOT EXISTS "${IN}")
  message(FATAL_ERROR "${IN}: not found (the Redis Function library of src/store.c)")
endif()
file(READ "${IN}" text)
string(REGEX MATCH "\nlocal VERSION = ([0-9]+)\n" found "${text}")
if(NOT found)
  message(FATAL_ERROR "${IN}: no line `local VERSION = <integer>` (the library's version)")
endif()
set(version "${CMAKE_MATCH_1}")
if(NOT text MATCHES "^#!lua name=consentd\n")
  message(FATAL_ERROR "${IN}: the first line must be `#!lua name=consentd` (FUNCTION LOAD needs it)")
endif()
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
# 16 bytes a line.
set(bytes "")
set(at 0)
while(at LESS hex_len)
  string(SUBSTRING "${hex}" ${at} 32 chunk)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," chunk "${chunk}")
  string(APPEND bytes "    ${chunk}\n")
  math(EXPR at "${at} + 32")
endwhile()
file(WRITE "${OUT}.tmp"
  "/* Generated from ${IN} by cmake/store_lua.cmake: do not edit. */\n"
  "#ifndef CONSENTD_STORE_LUA_H\n"
  "#define CONSENTD_STORE_LUA_H\n"
  "#define STORE_LIBRARY_VERSION ${version}LL\n"
  "#define STORE_LIBRARY_SOURCE_LEN ((size_t)${size})\n"
  "static const char STORE_LIBRARY_SOURCE[${size} + 1] = {\n${bytes}    0x00};\n"
  "#endif\n")
file(RENAME "${OUT}.tmp" "${OUT}")
