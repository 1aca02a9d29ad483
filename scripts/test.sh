#!/usr/bin/env bash
# The whole test suite: installs missing Debian packages (as root), builds with
# warnings as errors, runs every test, then the format and analyzer tests again
# under AddressSanitizer + UndefinedBehaviorSanitizer, and a bounded libFuzzer run
# of the reader.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc)

cmake -S . -B build/test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEAPSNAP_WERROR=ON >/dev/null
cmake --build build/test -j"$jobs"
ctest --test-dir build/test --output-on-failure -j"$jobs"

# The dumper runs inside a Python built without sanitizers, so the sanitized
# build leaves it out.
CC=clang cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DHEAPSNAP_WERROR=ON \
  -DHEAPSNAP_SANITIZE=ON -DHEAPSNAP_DUMPER=OFF -DHEAPSNAP_FUZZ=ON >/dev/null
cmake --build build/asan -j"$jobs"
# Graphviz and the font libraries it loads keep caches until exit (tests/lsan.supp).
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
  ctest --test-dir build/asan --output-on-failure -j"$jobs"

mkdir -p build/asan/fuzz-corpus
build/test/bench/format_bench --objects 300 --out build/asan/fuzz-corpus/seed.hsnap >/dev/null
build/asan/tests/fuzz/fuzz_reader -max_total_time="${HEAPSNAP_FUZZ_SECONDS:-30}" \
  -max_len=65536 build/asan/fuzz-corpus 2>build/asan/fuzz.log ||
  { tail -40 build/asan/fuzz.log; exit 1; }
echo "fuzz: $(grep -c . build/asan/fuzz.log) log lines, no crash in ${HEAPSNAP_FUZZ_SECONDS:-30} s"
