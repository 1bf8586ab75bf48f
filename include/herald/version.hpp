#pragma once
// herald's version. The one source of truth: CMakeLists.txt reads project(VERSION) from
// these three lines, and conanfile.py reads the package version from them.

#include "herald/export.hpp"

#define HERALD_VERSION_MAJOR 0
#define HERALD_VERSION_MINOR 1
#define HERALD_VERSION_PATCH 0

#define HERALD_VERSION_STRINGIFY_(x) #x
#define HERALD_VERSION_STRINGIFY(x) HERALD_VERSION_STRINGIFY_(x)
/// "0.1.0": the version of the headers being compiled.
#define HERALD_VERSION_STRING                                      \
  HERALD_VERSION_STRINGIFY(HERALD_VERSION_MAJOR) "."               \
  HERALD_VERSION_STRINGIFY(HERALD_VERSION_MINOR) "." HERALD_VERSION_STRINGIFY(HERALD_VERSION_PATCH)

namespace herald {

/// The version of the linked library, e.g. "0.1.0". A host can compare it with
/// HERALD_VERSION_STRING to detect headers and library of different releases.
HERALD_API const char* version() noexcept;

}  // namespace herald
