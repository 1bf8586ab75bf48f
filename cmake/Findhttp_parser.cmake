# Findhttp_parser — the nodejs http-parser C library (Debian: libhttp-parser-dev), which ships
# no CMake package. Defines http_parser::http_parser, the target name of Conan Center's
# http_parser package (whose generated config is used as is when found).
# Used by herald::websocket; installed beside heraldConfig.cmake, because a static
# herald::websocket makes its consumers link http-parser too.

include(${CMAKE_CURRENT_LIST_DIR}/HeraldFindLibrary.cmake)
herald_find_c_library(http_parser http_parser::http_parser
  HEADER http_parser.h LIBRARY http_parser DEBIAN libhttp-parser-dev)
