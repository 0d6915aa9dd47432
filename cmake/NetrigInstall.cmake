# Install rules and the CMake package: `find_package(netrig CONFIG REQUIRED)` then
#   target_link_libraries(my_netrig PRIVATE netrig::main my_flow_registration.o ...)
# gives a user the library (netrig::netrig) and the `netrig` command's main (netrig::main).
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
  ${PROJECT_BINARY_DIR}/netrigConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/netrig)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/netrigConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/netrigConfig.cmake ${PROJECT_BINARY_DIR}/netrigConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/netrig)
