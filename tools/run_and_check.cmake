# ctest driver: runs a command and checks its exit code and output.
#
#   cmake -DEXPECT_EXIT=<code>
#         [-DSTDOUT_CONTAINS=<text;...>] [-DSTDERR_CONTAINS=<text;...>]   literal substrings
#         [-DSTDOUT_MATCHES=<regex;...>] [-DSTDERR_MATCHES=<regex;...>]   CMake regexes
#         [-DJSON=ON] [-DJSON_NUMBERS=<path;...>] [-DJSON_EQUALS=<path=value;...>]
#         -P run_and_check.cmake -- <command> [args...]
#
# With JSON=ON stdout must be one JSON document. A path is its members and array indexes joined
# by '/', e.g. configurations/0/results/1/median_ms; JSON_NUMBERS must be numbers, JSON_EQUALS
# must have the given value (booleans read as ON/OFF).
cmake_minimum_required(VERSION 3.25)

set(command "")
set(after_separator OFF)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
  if(after_separator)
    list(APPEND command "${CMAKE_ARGV${i}}")
  elseif(CMAKE_ARGV${i} STREQUAL "--")
    set(after_separator ON)
  endif()
endforeach()
if(NOT command OR NOT DEFINED EXPECT_EXIT)
  message(FATAL_ERROR "usage: cmake -DEXPECT_EXIT=<code> [checks] -P run_and_check.cmake -- <command> [args...]")
endif()

execute_process(COMMAND ${command} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)

set(failures "")
if(NOT rc STREQUAL "${EXPECT_EXIT}")
  string(APPEND failures "  exit code ${rc}, expected ${EXPECT_EXIT}\n")
endif()
foreach(stream STDOUT STDERR)
  if(stream STREQUAL "STDOUT")
    set(text "${out}")
  else()
    set(text "${err}")
  endif()
  foreach(needle IN LISTS ${stream}_CONTAINS)
    string(FIND "${text}" "${needle}" at)
    if(at EQUAL -1)
      string(APPEND failures "  ${stream} does not contain: ${needle}\n")
    endif()
  endforeach()
  foreach(regex IN LISTS ${stream}_MATCHES)
    if(NOT text MATCHES "${regex}")
      string(APPEND failures "  ${stream} does not match the regex: ${regex}\n")
    endif()
  endforeach()
endforeach()

if(JSON)
  string(JSON type ERROR_VARIABLE json_error TYPE "${out}")
  if(json_error)
    string(APPEND failures "  stdout is not JSON: ${json_error}\n")
  else()
    foreach(path IN LISTS JSON_NUMBERS)
      string(REPLACE "/" ";" keys "${path}")
      string(JSON type ERROR_VARIABLE json_error TYPE "${out}" ${keys})
      if(json_error OR NOT type STREQUAL "NUMBER")
        string(APPEND failures "  JSON ${path} is not a number (${type}${json_error})\n")
      endif()
    endforeach()
    foreach(check IN LISTS JSON_EQUALS)
      string(FIND "${check}" "=" eq)
      string(SUBSTRING "${check}" 0 ${eq} path)
      math(EXPR value_at "${eq} + 1")
      string(SUBSTRING "${check}" ${value_at} -1 expected)
      string(REPLACE "/" ";" keys "${path}")
      string(JSON value ERROR_VARIABLE json_error GET "${out}" ${keys})
      if(json_error OR NOT value STREQUAL expected)
        string(APPEND failures "  JSON ${path} is '${value}', expected '${expected}' ${json_error}\n")
      endif()
    endforeach()
  endif()
endif()

if(failures)
  list(JOIN command " " shown)
  message(FATAL_ERROR "${shown}\n${failures}--- stdout ---\n${out}--- stderr ---\n${err}")
endif()
