# herald's packaging: library settings, install rules, the CMake package (heraldConfig.cmake
# with one export set per component) and one pkg-config file per component.
# How consumers use the result: docs/embedding.md.
#
# Each component's CMakeLists.txt, right after add_library(<target>) and its ALIAS:
#
#   herald_install_component(<component> <target>
#     DESCRIPTION "<one line>"          # for pkg-config
#     HEADERS <dir>                     # its include/ directory, installed as it is
#     DEPENDENCIES <package>...         # what a consumer's find_package(herald) must find for
#                                       # it: find_package() arguments, one entry each, e.g.
#                                       # Threads, http_parser, "PostgreSQL 15"
#     PKG_CONFIG_REQUIRES <module>...   # Requires.private of herald-<component>.pc (hiredis)
#     PKG_CONFIG_LIBS <flag>...)        # Libs.private of herald-<component>.pc (-lhttp_parser)
#
# Link third-party libraries PRIVATE, and header-only ones as $<BUILD_INTERFACE:…>: a static
# build exports a private library as $<LINK_ONLY:…>, which the consumer's heraldConfig.cmake
# recreates through DEPENDENCIES; a header-only one must not appear there at all.
#
# The top-level CMakeLists.txt calls herald_write_package() once, after every component.

include_guard(GLOBAL)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(HERALD_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/herald CACHE STRING
    "Where herald's CMake package files are installed (relative to the prefix)")
set(HERALD_INSTALL_PKGCONFIGDIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig CACHE STRING
    "Where herald's pkg-config files are installed (relative to the prefix)")
set(_herald_packaging_dir ${CMAKE_CURRENT_LIST_DIR})

function(herald_install_component component target)
  cmake_parse_arguments(PARSE_ARGV 2 arg "" "DESCRIPTION;HEADERS"
                        "DEPENDENCIES;PKG_CONFIG_REQUIRES;PKG_CONFIG_LIBS")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "herald_install_component(${component}): unknown arguments "
                        "${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT component IN_LIST HERALD_COMPONENTS AND NOT component STREQUAL "core")
    message(FATAL_ERROR "herald_install_component: add '${component}' to HERALD_COMPONENTS "
                        "in the top-level CMakeLists.txt")
  endif()

  # Hidden visibility: only what include/herald/export.hpp's HERALD_API marks is exported.
  # While herald is 0.x every minor release may break the ABI: SONAME libherald_<c>.so.0.1.
  if(PROJECT_VERSION_MAJOR EQUAL 0)
    set(soversion ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
  else()
    set(soversion ${PROJECT_VERSION_MAJOR})
  endif()
  set_target_properties(${target} PROPERTIES
    EXPORT_NAME ${component}
    OUTPUT_NAME herald_${component}
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    VERSION ${PROJECT_VERSION}
    SOVERSION ${soversion})
  # Static libraries stay linkable into a host's shared library unless the host (or Conan's
  # fPIC option) says otherwise.
  if(NOT DEFINED CMAKE_POSITION_INDEPENDENT_CODE)
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  endif()

  set_property(GLOBAL APPEND PROPERTY HERALD_BUILT_COMPONENTS ${component})
  set_property(GLOBAL PROPERTY HERALD_COMPONENT_TARGET_${component} ${target})
  set_property(GLOBAL PROPERTY HERALD_COMPONENT_DEPENDENCIES_${component} "${arg_DEPENDENCIES}")

  if(NOT HERALD_INSTALL)
    return()
  endif()
  install(TARGETS ${target} EXPORT herald-${component}-targets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
          INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  if(arg_HEADERS)
    install(DIRECTORY ${arg_HEADERS}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
            FILES_MATCHING PATTERN "*.hpp")
  endif()
  install(EXPORT herald-${component}-targets NAMESPACE herald::
          DESTINATION ${HERALD_INSTALL_CMAKEDIR})

  # pkg-config: paths relative to the .pc file, so that the install tree can be moved.
  file(RELATIVE_PATH pc_prefix /prefix/${HERALD_INSTALL_PKGCONFIGDIR} /prefix)
  string(REGEX REPLACE "/$" "" pc_prefix "${pc_prefix}")
  set(pc_prefix "\${pcfiledir}/${pc_prefix}")
  if(IS_ABSOLUTE "${HERALD_INSTALL_PKGCONFIGDIR}")
    set(pc_prefix "${CMAKE_INSTALL_PREFIX}")
  endif()
  foreach(dir LIBDIR INCLUDEDIR)
    set(pc_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
    if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
      set(pc_${dir} "${CMAKE_INSTALL_${dir}}")
    endif()
  endforeach()
  set(pc_name herald-${component})
  set(pc_description "${arg_DESCRIPTION}")
  set(pc_library herald_${component})
  set(pc_requires "")
  if(NOT component STREQUAL "core")
    set(pc_requires "herald-core = ${PROJECT_VERSION}")
  endif()
  list(JOIN arg_PKG_CONFIG_REQUIRES ", " pc_requires_private)
  list(JOIN arg_PKG_CONFIG_LIBS " " pc_libs_private)
  configure_file(${_herald_packaging_dir}/herald.pc.in
                 ${PROJECT_BINARY_DIR}/pkgconfig/${pc_name}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/${pc_name}.pc
          DESTINATION ${HERALD_INSTALL_PKGCONFIGDIR})
endfunction()

# The umbrella herald::herald (core and every built component) for add_subdirectory users,
# and heraldConfig.cmake + its version file, generated from what the components registered.
function(herald_write_package)
  get_property(built GLOBAL PROPERTY HERALD_BUILT_COMPONENTS)
  add_library(herald_all INTERFACE)
  add_library(herald::herald ALIAS herald_all)
  set(HERALD_PACKAGE_DEPENDENCIES "")
  foreach(component IN LISTS built)
    get_property(target GLOBAL PROPERTY HERALD_COMPONENT_TARGET_${component})
    get_property(dependencies GLOBAL PROPERTY HERALD_COMPONENT_DEPENDENCIES_${component})
    target_link_libraries(herald_all INTERFACE ${target})
    string(APPEND HERALD_PACKAGE_DEPENDENCIES
           "set(_herald_dependencies_${component} \"${dependencies}\")\n")
  endforeach()
  set(HERALD_PACKAGE_BUILT "${built}")
  get_target_property(core_type herald_core TYPE)
  set(HERALD_PACKAGE_SHARED OFF)
  if(core_type STREQUAL "SHARED_LIBRARY")
    set(HERALD_PACKAGE_SHARED ON)
  endif()

  if(NOT HERALD_INSTALL)
    return()
  endif()
  configure_package_config_file(${_herald_packaging_dir}/heraldConfig.cmake.in
    ${PROJECT_BINARY_DIR}/heraldConfig.cmake
    INSTALL_DESTINATION ${HERALD_INSTALL_CMAKEDIR})
  # 0.x: a minor release may break the API, so 0.1.x satisfies only requests for 0.1.
  write_basic_package_version_file(${PROJECT_BINARY_DIR}/heraldConfigVersion.cmake
    COMPATIBILITY SameMinorVersion)
  file(GLOB find_modules ${_herald_packaging_dir}/Find*.cmake)
  install(FILES ${PROJECT_BINARY_DIR}/heraldConfig.cmake
                ${PROJECT_BINARY_DIR}/heraldConfigVersion.cmake
                ${find_modules} ${_herald_packaging_dir}/HeraldFindLibrary.cmake
          DESTINATION ${HERALD_INSTALL_CMAKEDIR})
endfunction()
