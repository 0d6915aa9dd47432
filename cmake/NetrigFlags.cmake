# Warning and sanitizer flags, one place for the whole tree.

add_compile_options(-Wall -Wextra)
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  # Checks ABSL_GUARDED_BY & co. at compile time; TSan checks the same at run time.
  add_compile_options(-Wthread-safety)
endif()

set(NETRIG_SANITIZER_FLAGS "")
if(NETRIG_SANITIZER STREQUAL "asan")
  set(NETRIG_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all)
elseif(NETRIG_SANITIZER STREQUAL "tsan")
  set(NETRIG_SANITIZER_FLAGS -fsanitize=thread)
elseif(NETRIG_SANITIZER STREQUAL "fuzz")
  set(NETRIG_SANITIZER_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all)
  add_compile_definitions(NETRIG_FUZZING_BUILD=1)
elseif(NOT NETRIG_SANITIZER STREQUAL "none")
  message(FATAL_ERROR "NETRIG_SANITIZER must be none, asan, tsan or fuzz, not '${NETRIG_SANITIZER}'")
endif()

if(NETRIG_SANITIZER_FLAGS)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "NETRIG_SANITIZER=${NETRIG_SANITIZER} needs clang (the presets use clang-19)")
  endif()
  # Line tables are all a sanitizer report or a stack signature reads; full debug info made each
  # compile 10-15% slower (measured on tests/http/session_test.cc under ASan).
  add_compile_options(${NETRIG_SANITIZER_FLAGS} -fno-omit-frame-pointer -gline-tables-only)
  add_link_options(${NETRIG_SANITIZER_FLAGS})
  string(TOUPPER "${NETRIG_SANITIZER}" _san)
  add_compile_definitions(NETRIG_SANITIZER_${_san}=1)
endif()

# Link with LLVM's lld where it is installed (scripts/bootstrap installs lld-19): 2-3x faster than
# GNU ld on netrig's hundred-odd executables (1.98 s against 0.83 s for one test binary, 3.2 s
# against 1.0 s for bin/netrig), which is minutes of CI time. Only netrig's own targets: the
# exported package does not carry it to a user's project.
option(NETRIG_USE_LLD "Link netrig's own executables with lld when it is installed" ON)
if(NETRIG_USE_LLD)
  find_program(NETRIG_LLD NAMES ld.lld-19 ld.lld PATHS /usr/lib/llvm-19/bin)
  if(NETRIG_LLD AND CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    add_link_options("--ld-path=${NETRIG_LLD}")
  elseif(NETRIG_LLD)
    # GCC looks for a program named ld.lld on its -B path: a directory holding just that link.
    set(_netrig_linker_dir "${CMAKE_BINARY_DIR}/netrig-linker")
    file(MAKE_DIRECTORY "${_netrig_linker_dir}")
    file(CREATE_LINK "${NETRIG_LLD}" "${_netrig_linker_dir}/ld.lld" SYMBOLIC)
    add_link_options(-fuse-ld=lld "-B${_netrig_linker_dir}/")
  endif()
endif()

# Every netrig executable links this: sanitizer defaults compiled into the binary.
function(netrig_executable target)
  target_link_libraries(${target} PRIVATE netrig_sanitizer_defaults)
endfunction()
