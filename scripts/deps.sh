#!/usr/bin/env bash
# Installs the Debian packages heapsnap builds and tests with, when run as
# root and something is missing; otherwise names what is missing. With
# --build, only what building and running need (no tests: what
# scripts/demo.sh uses).
set -euo pipefail
pkgs=(build-essential cmake pkg-config libzstd-dev libsqlite3-dev libgraphviz-dev)
if [ "${1:-}" != --build ]; then
  # tests, the sanitized build (clang's sanitizer and libFuzzer runtimes are
  # only a recommendation of clang: name them), and the report's browser test
  pkgs+=(libcriterion-dev graphviz clang libclang-rt-dev sqlite3 zstd chromium)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
# the extension builds against the python3 on PATH: it needs that Python's headers
if ! python3 -c 'import sysconfig,os,sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"],"Python.h")))'; then
  missing+=(python3-dev)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "heapsnap: missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "heapsnap: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
