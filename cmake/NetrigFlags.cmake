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
  add_compile_options(${NETRIG_SANITIZER_FLAGS} -fno-omit-frame-pointer -g)
  add_link_options(${NETRIG_SANITIZER_FLAGS})
  string(TOUPPER "${NETRIG_SANITIZER}" _san)
  add_compile_definitions(NETRIG_SANITIZER_${_san}=1)
endif()

# Every netrig executable links this: sanitizer defaults compiled into the binary.
function(netrig_executable target)
  target_link_libraries(${target} PRIVATE netrig_sanitizer_defaults)
endfunction()
