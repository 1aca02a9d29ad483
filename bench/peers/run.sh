#!/usr/bin/env bash
# Peers side by side: a bench virtualenv with objgraph, Pympler, guppy3 and
# memray from the package index and heapsnap from this checkout (pip), then
# bench/peers/peers.py in it (its docstring says what is measured).
#
#   bench/peers/run.sh [--objects 1000000,5000000] [--timeout 600] [peers.py options]
#
# HEAPSNAP_PEERS_DIR: the virtualenv, heapsnap's build and the dumps
# (default build/peers in the checkout); PYTHON: the interpreter (python3).
set -euo pipefail

fail() { echo "run.sh: $*" >&2; exit 1; }

src=$(cd "$(dirname "$0")/../.." && pwd)
work=${HEAPSNAP_PEERS_DIR:-$src/build/peers}
python=${PYTHON:-python3}
venv=$work/venv
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
mkdir -p "$work"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv" || fail "'$python -m venv $venv' failed (Debian: apt-get install python3-venv)"
fi
"$venv/bin/pip" install -q objgraph Pympler guppy3 memray >"$work/pip.log" 2>&1 ||
  { tail -20 "$work/pip.log" >&2; fail "pip could not install the peers (log: $work/pip.log)"; }
# --force-reinstall: the checkout changes while its version stays the same
"$venv/bin/pip" install -q --force-reinstall --no-deps "$src" \
  --config-settings=build-dir="$work/build" >>"$work/pip.log" 2>&1 ||
  { tail -20 "$work/pip.log" >&2; fail "pip could not install heapsnap from $src (log: $work/pip.log)"; }

exec "$venv/bin/python" "$src/bench/peers/peers.py" --dir "$work/run" "$@"
