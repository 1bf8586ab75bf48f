// The linked library's version (see herald/version.hpp).

#include "herald/version.hpp"

namespace herald {

const char* version() noexcept {
  return HERALD_VERSION_STRING;
}

}  // namespace herald
