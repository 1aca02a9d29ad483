#!/usr/bin/env bash
# On a Python heapsnap does not support, both ways of building stop with one
# line that names the supported versions (not a compile error in compat.h):
# pip through requires-python, CMake through the dumper's version check.
#
#   tests/pip/test_pip_unsupported.sh SOURCE_DIR WORK_DIR
#
# It uses the first unsupported interpreter it finds (3.14, 3.10); with none
# it exits 77, which CTest reports as skipped.
set -euo pipefail

fail() { echo "test_pip_unsupported: $*" >&2; exit 1; }

[ $# -eq 2 ] || { echo "usage: $0 SOURCE_DIR WORK_DIR" >&2; exit 2; }
src=$(cd "$1" && pwd) || fail "no source directory '$1'"
work=$2
unset PYTHONPATH PYTHONHOME
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

python=
for v in 3.14 3.10; do
  # a pyenv shim is on PATH even for a version it will not run: try each
  for cand in "$HOME"/.pyenv/versions/"$v".*/bin/"python$v" "$(command -v "python$v" || true)"; do
    if [ -n "$cand" ] && "$cand" -c '' 2>/dev/null; then python=$cand; break 2; fi
  done
done
[ -n "$python" ] || { echo "test_pip_unsupported: skipped: no python3.14 or python3.10 here"; exit 77; }
ver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)

if "$python" -m pip install --dry-run --no-deps "$src" >"$work/pip.log" 2>&1; then
  fail "pip on Python $ver accepted heapsnap (log: $work/pip.log)"
fi
grep -q "requires a different Python: $ver.* not in '<3.14,>=3.11'" "$work/pip.log" ||
  { tail -20 "$work/pip.log" >&2; fail "pip on Python $ver did not name the supported versions"; }

if cmake -S "$src" -B "$work/build" -DHEAPSNAP_ANALYZER=OFF -DHEAPSNAP_TESTS=OFF \
    -DPython3_EXECUTABLE="$python" >"$work/cmake.log" 2>&1; then
  fail "cmake configured the dumper for Python $ver"
fi
grep -q "supports CPython 3.11, 3.12 and 3.13, not $ver" "$work/cmake.log" ||
  { tail -20 "$work/cmake.log" >&2; fail "cmake on Python $ver did not name the supported versions"; }
grep -q "compat.h" "$work/cmake.log" && fail "cmake on Python $ver reached compat.h"

echo "test_pip_unsupported: Python $ver refused by pip and by cmake, naming 3.11-3.13"
