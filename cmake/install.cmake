# Installs the headers and a relocatable package config so that a separate project can use
#   find_package(convlayer) + target_link_libraries(app PRIVATE convlayer::convlayer)
include(CMakePackageConfigHelpers)

set(CONVLAYER_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/convlayer)

install(DIRECTORY include/convlayer DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS convlayer EXPORT convlayerTargets)
install(EXPORT convlayerTargets NAMESPACE convlayer:: DESTINATION ${CONVLAYER_CMAKE_DIR})

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/convlayerConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/convlayerConfig.cmake
  INSTALL_DESTINATION ${CONVLAYER_CMAKE_DIR})
# A header-only library is architecture-independent.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/convlayerConfigVersion.cmake
  COMPATIBILITY SameMajorVersion ARCH_INDEPENDENT)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/convlayerConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/convlayerConfigVersion.cmake
        DESTINATION ${CONVLAYER_CMAKE_DIR})
