# Install rules and the CMake package: `find_package(netrig CONFIG REQUIRED)` then
#   target_link_libraries(my_netrig PRIVATE netrig::main my_flow_registration.o ...)
# gives a user the library (netrig::netrig) and the `netrig` command's main (netrig::main), and
#   netrig_add_fuzzer(my_fuzzer TARGET http_response CLIENT my-client SOURCES my_client.cc)
# a libFuzzer binary and replay runner around their client (cmake/NetrigAddFuzzer.cmake).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(_netrig_libraries netrig netrig_main netrig_sanitizer_defaults)
foreach(layer ${NETRIG_LAYERS})
  list(APPEND _netrig_libraries netrig_${layer})
endforeach()
# The conformance suites, when GoogleTest was found (netrigConfig.cmake then finds it too).
if(TARGET netrig_conformance)
  list(APPEND _netrig_libraries netrig_conformance)
  set(NETRIG_CONFORMANCE ON)
else()
  set(NETRIG_CONFORMANCE OFF)
endif()
# The fuzz targets a user can point at a client, flow or matcher of their own (fuzzers/), the
# replay runner's main, and their corpora, dictionaries and options (netrig_add_fuzzer()).
get_property(_netrig_fuzz_libraries GLOBAL PROPERTY NETRIG_INSTALLED_FUZZ_LIBRARIES)
list(APPEND _netrig_libraries ${_netrig_fuzz_libraries})
set(NETRIG_INSTALL_CORPORA_DIR ${CMAKE_INSTALL_DATADIR}/netrig/corpora)
get_property(_netrig_fuzz_targets GLOBAL PROPERTY NETRIG_INSTALLED_FUZZ_TARGETS)
foreach(name ${_netrig_fuzz_targets})
  install(DIRECTORY corpora/${name} DESTINATION ${NETRIG_INSTALL_CORPORA_DIR})
  install(FILES corpora/${name}.dict corpora/${name}.options
          DESTINATION ${NETRIG_INSTALL_CORPORA_DIR})
endforeach()
foreach(target ${_netrig_libraries})
  string(REGEX REPLACE "^netrig_" "" export_name ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${export_name})
endforeach()
set_target_properties(netrig PROPERTIES EXPORT_NAME netrig)

install(TARGETS ${_netrig_libraries} EXPORT netrigTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        OBJECTS DESTINATION ${CMAKE_INSTALL_LIBDIR}/netrig-objects
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS netrig_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY harness cli DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(EXPORT netrigTargets NAMESPACE netrig:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/netrig)

configure_package_config_file(cmake/netrigConfig.cmake.in
  ${PROJECT_BINARY_DIR}/netrigConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/netrig
  PATH_VARS NETRIG_INSTALL_CORPORA_DIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/netrigConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/netrigConfig.cmake ${PROJECT_BINARY_DIR}/netrigConfigVersion.cmake
              cmake/NetrigAddFuzzer.cmake cmake/NetrigCurl.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/netrig)
