# Findhiredis — the hiredis C client (Debian: libhiredis-dev; 0.14 ships hiredis.pc but no
# CMake package). Defines hiredis::hiredis, the target name of hiredis' own CMake package
# (1.x) and of Conan Center's, which are used as they are when found.
# For herald::redis; installed beside heraldConfig.cmake.

include(${CMAKE_CURRENT_LIST_DIR}/HeraldFindLibrary.cmake)
herald_find_c_library(hiredis hiredis::hiredis
  HEADER hiredis/hiredis.h LIBRARY hiredis DEBIAN libhiredis-dev PKG_CONFIG hiredis)
