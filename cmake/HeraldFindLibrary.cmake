# herald_find_c_library(<package> <target> HEADER <file> LIBRARY <name> DEBIAN <package>
#                       [PKG_CONFIG <module>])
# The body of herald's Find modules for C libraries that ship no CMake package on Debian
# (Findhttp_parser.cmake, Findhiredis.cmake). Uses the library's own CMake config when one is
# found (a newer release, or the one Conan's CMakeDeps generates) if it defines <target>;
# otherwise finds the header and the library (with pkg-config's hints when given) and defines
# the imported <target>. Sets <package>_FOUND (and <package>_VERSION when pkg-config knows
# it); on failure names the Debian package.

include_guard(GLOBAL)
include(FindPackageHandleStandardArgs)

function(herald_find_c_library package target)
  cmake_parse_arguments(PARSE_ARGV 2 arg "" "HEADER;LIBRARY;DEBIAN;PKG_CONFIG" "")
  find_package(${package} CONFIG QUIET)
  if(${package}_FOUND AND TARGET ${target})
    set(${package}_FOUND TRUE PARENT_SCOPE)
    return()
  endif()

  string(TOUPPER ${package} var)
  if(arg_PKG_CONFIG)
    find_package(PkgConfig QUIET)
    if(PKG_CONFIG_FOUND)
      pkg_check_modules(${var}_PC QUIET ${arg_PKG_CONFIG})
    endif()
  endif()
  find_path(${var}_INCLUDE_DIR ${arg_HEADER} HINTS ${${var}_PC_INCLUDE_DIRS})
  find_library(${var}_LIBRARY ${arg_LIBRARY} HINTS ${${var}_PC_LIBRARY_DIRS})
  mark_as_advanced(${var}_INCLUDE_DIR ${var}_LIBRARY)
  find_package_handle_standard_args(${package}
    REQUIRED_VARS ${var}_LIBRARY ${var}_INCLUDE_DIR
    VERSION_VAR ${var}_PC_VERSION
    REASON_FAILURE_MESSAGE "install ${package} (Debian: apt-get install ${arg_DEBIAN})")
  set(${package}_FOUND ${${package}_FOUND} PARENT_SCOPE)
  set(${package}_VERSION "${${var}_PC_VERSION}" PARENT_SCOPE)

  if(${package}_FOUND AND NOT TARGET ${target})
    add_library(${target} UNKNOWN IMPORTED)
    set_target_properties(${target} PROPERTIES
      IMPORTED_LOCATION "${${var}_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${${var}_INCLUDE_DIR}")
  endif()
endfunction()
