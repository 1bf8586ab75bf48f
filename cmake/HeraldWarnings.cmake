# herald_warnings(target): the warning set of herald's own code; errors when
# HERALD_WARNINGS_AS_ERRORS is on (the default when herald is the top-level project).
function(herald_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wold-style-cast -Wcast-align -Woverloaded-virtual)
  if(HERALD_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# herald_header_stands_alone(name header include_dirs...): the public `header` compiles on
# its own, included twice, as C++17 and as C++20, with only `include_dirs` on the path (so no
# third-party header can sneak in). Adds OBJECT libraries <name>_cxx17 and <name>_cxx20.
function(herald_header_stands_alone name header)
  foreach(std 17 20)
    set(file ${CMAKE_CURRENT_BINARY_DIR}/${name}_cxx${std}.cpp)
    file(CONFIGURE OUTPUT ${file} CONTENT "#include <${header}>\n#include <${header}>\n")
    add_library(${name}_cxx${std} OBJECT ${file})
    target_include_directories(${name}_cxx${std} PRIVATE ${ARGN})
    set_target_properties(${name}_cxx${std} PROPERTIES CXX_STANDARD ${std} UNITY_BUILD OFF)
    herald_warnings(${name}_cxx${std})
  endforeach()
endfunction()
