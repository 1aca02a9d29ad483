#!/usr/bin/env bash
# The whole test suite: installs missing Debian packages (as root), builds with
# warnings as errors, runs every test, runs the tests that use Python again
# with each other supported CPython, then the format and analyzer tests again
# under AddressSanitizer + UndefinedBehaviorSanitizer, and bounded libFuzzer runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc)

cmake -S . -B build/test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEAPSNAP_WERROR=ON >/dev/null
cmake --build build/test -j"$jobs"
ctest --test-dir build/test --output-on-failure -j"$jobs"

# The dumper against each supported CPython besides the python3 on PATH (on
# these machines pyenv has 3.11, 3.12 and 3.13): every test that runs Python
# (dumper, triggers, sizes, pip, end-to-end) again with that interpreter.
main_py=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
echo "python: $main_py (python3 on PATH): tested above"
for v in 3.11 3.12 3.13; do
  [ "$v" = "$main_py" ] && continue
  py=
  # a pyenv shim is on PATH even for a version it will not run: try each
  for cand in "$HOME"/.pyenv/versions/"$v".*/bin/"python$v" "$(command -v "python$v" || true)"; do
    if [ -n "$cand" ] && "$cand" -c '' 2>/dev/null; then py=$cand; break; fi
  done
  if [ -z "$py" ]; then
    echo "python: $v skipped: no python$v on this machine"
    continue
  fi
  echo "python: $v ($py)"
  cmake -S . -B "build/py$v" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEAPSNAP_WERROR=ON \
    -DPython3_EXECUTABLE="$py" -DHEAPSNAP_ATTACH_PYTHONS="$py" >/dev/null
  cmake --build "build/py$v" -j"$jobs" >/dev/null
  ctest --test-dir "build/py$v" --output-on-failure -j"$jobs" -R 'dumper|triggers|sizes|pip_install|e2e'
done

# The dumper runs inside a Python built without sanitizers, so the sanitized
# build leaves it out.
CC=clang cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DHEAPSNAP_WERROR=ON \
  -DHEAPSNAP_SANITIZE=ON -DHEAPSNAP_DUMPER=OFF -DHEAPSNAP_FUZZ=ON \
  -DHEAPSNAP_ATTACH_PYTHONS="$(command -v python3)" >/dev/null
cmake --build build/asan -j"$jobs"
# Graphviz and the font libraries it loads keep caches until exit (tests/lsan.supp).
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
  ctest --test-dir build/asan --output-on-failure -j"$jobs"

# Bounded libFuzzer runs of tests/fuzz: the reader on any bytes (fuzz_reader),
# and dumps built from the input with valid checksums, so that mutations reach
# the record decoder (fuzz_records). Each starts from the committed corpus
# (read only) and keeps what it finds, and any crashing input, in build/asan/fuzz.
fuzz_seconds=${HEAPSNAP_FUZZ_SECONDS:-20}
for t in reader records; do
  mkdir -p "build/asan/fuzz/$t"
  UBSAN_OPTIONS=print_stacktrace=1 build/asan/tests/fuzz/fuzz_$t \
    -max_total_time="$fuzz_seconds" -timeout=10 -artifact_prefix=build/asan/fuzz/ \
    "build/asan/fuzz/$t" "tests/fuzz/corpus/$t" 2>"build/asan/fuzz/$t.log" ||
    { tail -40 "build/asan/fuzz/$t.log"; echo "fuzz_$t failed: the input is in build/asan/fuzz/"; exit 1; }
  done_line=$(grep DONE "build/asan/fuzz/$t.log")
  echo "fuzz_$t: no crash in $fuzz_seconds s ($(grep -o 'cov: [0-9]* ft: [0-9]*' <<<"$done_line"), $(grep -o 'exec/s: [0-9]*' <<<"$done_line"))"
done
