#!/usr/bin/env bash
# heapsnap in a minute: installs the missing Debian packages (as root), builds
# into build/, runs a search service that leaks pending asyncio tasks
# (samples/search_service.py), takes three dumps of it by signal a few seconds
# apart, prints what 'heapsnap leaks' finds, and writes the picture of the
# leak (graph.svg) and a report of the three dumps (report.html).
#
#   scripts/demo.sh [OUT_DIR]        (default build/demo)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-$root/build/demo}

scripts/deps.sh --build
echo "building heapsnap into build/ ..."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEAPSNAP_DUMPER=ON \
  -DHEAPSNAP_ANALYZER=ON -DHEAPSNAP_TESTS=OFF -DHEAPSNAP_SANITIZE=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

rm -rf "$out"
mkdir -p "$out/dumps"
export PYTHONPATH=$root/build/python
hs=$root/build/analyzer/heapsnap

# The service runs unmodified; 'run' installs the dump handler for SIGUSR1.
# tracemalloc tracing lets heapsnap say where the leaking objects were made.
PYTHONTRACEMALLOC=5 python3 -m heapsnap run --signal USR1 --dir "$out/dumps" \
  samples/search_service.py --duration 120 >"$out/service.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
# Its first line says it serves: the dump handler is in place by then.
for _ in $(seq 100); do
  grep -q "^search_service pid" "$out/service.log" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$out/service.log" >&2; exit 1; }
  sleep 0.1
done
echo "search service running as pid $pid (log: $out/service.log)"

dumps=()
for i in 1 2 3; do
  sleep 2
  dumps+=("$("$hs" trigger "$pid" --wait)")
  echo "dump $i: ${dumps[-1]}"
done
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true

echo
"$hs" leaks "${dumps[@]}"
echo
"$hs" graph "${dumps[@]}" --leak 1 -o "$out/graph.svg" >/dev/null
"$hs" report "${dumps[@]}" -o "$out/report.html" >/dev/null
echo "the picture of leak 1: $out/graph.svg"
echo "the report:            $out/report.html"
