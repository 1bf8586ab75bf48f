# Findlibjwt — the libjwt C library (Debian: libjwt-dev; 1.10 ships libjwt.pc but no CMake
# package). Defines libjwt::libjwt; a libjwt CMake config (or Conan's) that defines it is used
# as it is. For herald::jwt; installed beside heraldConfig.cmake.

include(${CMAKE_CURRENT_LIST_DIR}/HeraldFindLibrary.cmake)
herald_find_c_library(libjwt libjwt::libjwt
  HEADER jwt.h LIBRARY jwt DEBIAN libjwt-dev PKG_CONFIG libjwt)
