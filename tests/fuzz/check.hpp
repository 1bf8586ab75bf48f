#pragma once
// CHECK(condition): a fuzz target's invariant. A failure prints what failed and where, then
// aborts, which libFuzzer reports as a crash and saves the input that did it.

#include <cstdio>
#include <cstdlib>

#define CHECK(condition)                                                                  \
  do {                                                                                    \
    if (!(condition)) {                                                                   \
      std::fprintf(stderr, "invariant failed: %s (%s:%d)\n", #condition, __FILE__, __LINE__); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (false)
