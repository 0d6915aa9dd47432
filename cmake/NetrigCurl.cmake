# Which libcurl netrig links: the system's (find_package(CURL)) or, in the fuzz preset, the same
# Debian version built from its source package with the fuzz instrumentation
# (scripts/instrumented-curl, cached per machine), so that libFuzzer gets coverage from inside
# libcurl's parsers. NETRIG_INSTRUMENTED_CURL=OFF gives the fuzz preset the system libcurl;
# ON in another preset is refused (its sanitizer runtime would not match).
#
# netrig_curl_from_prefix(PREFIX) defines CURL::libcurl as that static library and its
# dependencies, and NETRIG_NGHTTP2_TARGET as the libnghttp2 it was built against (instrumented
# too with NETRIG_INSTRUMENTED_NGHTTP2); netrigConfig.cmake calls it too, so an installed fuzz
# build links the same ones.
macro(netrig_curl_from_prefix prefix)
  find_package(OpenSSL REQUIRED)
  find_package(ZLIB REQUIRED)
  find_package(Threads REQUIRED)
  if(EXISTS "${prefix}/lib/libnghttp2.a")
    # Built with --nghttp2: the instrumented libnghttp2 serves libcurl and the embedded server
    # alike (NETRIG_NGHTTP2_TARGET), so no second copy of its symbols reaches the link.
    if(NOT TARGET netrig_instrumented_nghttp2)
      add_library(netrig_instrumented_nghttp2 STATIC IMPORTED)
      set_target_properties(netrig_instrumented_nghttp2 PROPERTIES
        IMPORTED_LOCATION "${prefix}/lib/libnghttp2.a"
        INTERFACE_INCLUDE_DIRECTORIES "${prefix}/include")
    endif()
    set(NETRIG_NGHTTP2_TARGET netrig_instrumented_nghttp2)
  else()
    if(NOT TARGET PkgConfig::NETRIG_CURL_NGHTTP2)
      find_package(PkgConfig REQUIRED)
      pkg_check_modules(NETRIG_CURL_NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2)
    endif()
    set(NETRIG_NGHTTP2_TARGET PkgConfig::NETRIG_CURL_NGHTTP2)
  endif()
  add_library(CURL::libcurl STATIC IMPORTED)
  set_target_properties(CURL::libcurl PROPERTIES
    IMPORTED_LOCATION "${prefix}/lib/libcurl.a"
    INTERFACE_INCLUDE_DIRECTORIES "${prefix}/include"
    INTERFACE_LINK_LIBRARIES
      "${NETRIG_NGHTTP2_TARGET};OpenSSL::SSL;OpenSSL::Crypto;ZLIB::ZLIB;Threads::Threads")
endmacro()
