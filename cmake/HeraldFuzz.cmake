# HERALD_FUZZ: the libFuzzer targets of tests/fuzz (docs/fuzzing.md). They need clang's
# libFuzzer (Debian: clang-14 libclang-rt-14-dev) and a static build: the targets call
# internal functions (the HTTP parser, the frame reader…) that a shared library hides.
# Everything herald builds is instrumented for coverage and checked by ASan + UBSan; the
# fuzz targets themselves link libFuzzer's main (tests/fuzz/CMakeLists.txt).
if(NOT HERALD_FUZZ)
  return()
endif()
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "HERALD_FUZZ needs clang (libFuzzer), not ${CMAKE_CXX_COMPILER_ID}: "
                      "configure with -DCMAKE_CXX_COMPILER=clang++-14 in a build directory of "
                      "its own (Debian: apt-get install clang-14 libclang-rt-14-dev), or run "
                      "scripts/fuzz.sh")
endif()
if(BUILD_SHARED_LIBS)
  message(FATAL_ERROR "HERALD_FUZZ needs a static build: configure with -DBUILD_SHARED_LIBS=OFF")
endif()
if(NOT HERALD_WITH_WEBSOCKET OR NOT HERALD_BUILD_EXAMPLES)
  message(FATAL_ERROR "HERALD_FUZZ needs HERALD_WITH_WEBSOCKET and HERALD_BUILD_EXAMPLES "
                      "(the HTTP, WebSocket and POST /notify targets)")
endif()
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                    -fno-omit-frame-pointer)
add_link_options(-fsanitize=address,undefined)
