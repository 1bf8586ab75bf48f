#!/usr/bin/env bash
# Proves that herald can be consumed the ways docs/embedding.md describes (called by .ci/run):
# for a shared and a static build, herald (Release, -Werror, libraries and herald-server) is
# installed into a temporary prefix (the shared build is compiled without optimization,
# -O0: what is checked here is how it installs and links, and -O3 tripled its time), then
#   - herald-server from the prefix runs (--version),
#   - test_package/ (what Conan's `conan create` builds) and tests/consumer/ (a host using
#     every built component) configure, build and run with -DCMAKE_PREFIX_PATH=<prefix>,
#   - find_package with a component that was not built fails, naming it,
#   - test_package.cpp and tests/consumer/main.cpp build from `pkg-config --cflags --libs`
#     and run;
# then tests/consumer/ builds herald itself through add_subdirectory, and the Conan recipes
# compile. Exits non-zero on the first failure.
# Usage: scripts/check-install.sh [--static-build DIR]     (after scripts/deps.sh)
#   --static-build DIR: install this already built static build of herald (with examples)
#                       instead of building one; .ci/run passes its own build/ci.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
static_build=""
if [ "${1:-}" = --static-build ]; then static_build=$2; fi
jobs=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The components built and used here: every one whose dependencies scripts/deps.sh installs.
components=(websocket redis postgres sqlite jwt)
# One that find_package must refuse: a component of HERALD_COMPONENTS (CMakeLists.txt) that
# is not built here, or, once all are, a name that is none.
not_built=nosuch
for c in $(sed -n 's/^set(HERALD_COMPONENTS \(.*\))$/\1/p' CMakeLists.txt); do
  [[ " ${components[*]} " == *" $c "* ]] || { not_built=$c; break; }
done

with_components=()
for c in "${components[@]}"; do with_components+=("-DHERALD_WITH_${c^^}=ON"); done
consumer_components=$(IFS=';'; echo "${components[*]}")

step() { echo "== install check: $*  [at $SECONDS s]"; }
quiet() {  # runs a command, shows its output only if it fails
  local log="$work/log"
  "$@" >"$log" 2>&1 || { cat "$log"; echo "FAILED: $*"; return 1; }
}

for shared in ON OFF; do
  kind=$([ "$shared" = ON ] && echo shared || echo static)
  build=build/install-$kind
  prefix=$work/prefix-$kind
  if [ "$shared" = OFF ] && [ -n "$static_build" ]; then
    build=$static_build
    step "$kind build of herald in $build, installed into a temporary prefix"
  else
    step "$kind build of herald (Release at -O0, -Werror), installed into a temporary prefix"
    quiet cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O0 -DNDEBUG" \
          -DCMAKE_C_FLAGS_RELEASE="-O0 -DNDEBUG" -DBUILD_SHARED_LIBS="$shared" \
          -DHERALD_BUILD_TESTS=OFF -DHERALD_BUILD_EXAMPLES=ON -DHERALD_WARNINGS_AS_ERRORS=ON \
          "${with_components[@]}"
    quiet cmake --build "$build" -j"$jobs"
  fi
  quiet cmake --install "$build" --prefix "$prefix"
  grep -q "herald_SHARED_LIBS $shared" "$prefix/lib/cmake/herald/heraldConfig.cmake" ||
    { echo "FAILED: $build is not a $kind build"; exit 1; }
  "$prefix/bin/herald-server" --version

  step "$kind: test_package/ and tests/consumer/ with find_package"
  for project in test_package tests/consumer; do
    out=$work/$kind-$(basename "$project")
    quiet cmake -S "$project" -B "$out" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
          -DCONSUMER_COMPONENTS="$consumer_components"
    quiet cmake --build "$out" -j"$jobs"
  done
  "$work/$kind-test_package/test_package"
  "$work/$kind-consumer/consumer"

  step "$kind: find_package(herald COMPONENTS $not_built) fails and names '$not_built'"
  if cmake -S tests/consumer -B "$work/$kind-missing" -DCMAKE_PREFIX_PATH="$prefix" \
       -DCONSUMER_COMPONENTS="$not_built" >"$work/missing.log" 2>&1; then
    echo "FAILED: configuring with a component that was not built succeeded"; exit 1
  fi
  tr -s ' \n' ' ' <"$work/missing.log" | grep -q "component '$not_built'" ||
    { cat "$work/missing.log"; echo "FAILED: the error does not name '$not_built'"; exit 1; }

  step "$kind: pkg-config --cflags --libs herald-core, and with every component"
  pc=(env PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --print-errors)
  [ "$shared" = OFF ] && pc+=(--static)
  modules=(herald-core) defines=()
  for c in "${components[@]}"; do modules+=("herald-$c") defines+=("-DCONSUMER_WITH_${c^^}"); done
  # shellcheck disable=SC2046  # the flags are words
  g++ -std=c++17 -o "$work/$kind-pc" test_package/test_package.cpp \
      $("${pc[@]}" --cflags --libs herald-core) -Wl,-rpath,"$prefix/lib"
  "$work/$kind-pc"
  # shellcheck disable=SC2046
  g++ -std=c++17 -DASIO_STANDALONE "${defines[@]}" -o "$work/$kind-pc-all" \
      tests/consumer/main.cpp $("${pc[@]}" --cflags --libs "${modules[@]}") -Wl,-rpath,"$prefix/lib"
  "$work/$kind-pc-all"
done

step "tests/consumer/ with add_subdirectory(herald)"
# (a unity build: the shared build above already compiled each source on its own)
quiet cmake -S tests/consumer -B "$work/subdirectory" -DHERALD_SOURCE_DIR="$root" \
      -DHERALD_WARNINGS_AS_ERRORS=ON -DCONSUMER_COMPONENTS="$consumer_components" \
      -DCMAKE_UNITY_BUILD=ON "${with_components[@]}"
quiet cmake --build "$work/subdirectory" -j"$jobs"
"$work/subdirectory/consumer"

step "the Conan recipes compile"
PYTHONPYCACHEPREFIX=$work/pycache python3 -m py_compile conanfile.py test_package/conanfile.py
echo "== install check: passed in $SECONDS s"
