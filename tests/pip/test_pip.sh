#!/usr/bin/env bash
# pip install of the checkout into a fresh virtualenv, then, from that
# environment only (no PYTHONPATH, no build tree): a dump of a small program,
# 'heapsnap top' and 'heapsnap path' on it, the versions of both halves and
# 'python -m heapsnap'.
#
#   tests/pip/test_pip.sh SOURCE_DIR WORK_DIR [PYTHON]
#
# The build goes to WORK_DIR/build (kept between runs, so a rerun only
# recompiles what changed; pip's own cache serves scikit-build-core), never
# into the source tree.
set -euo pipefail

fail() { echo "test_pip: $*" >&2; exit 1; }

[ $# -ge 2 ] || { echo "usage: $0 SOURCE_DIR WORK_DIR [PYTHON]" >&2; exit 2; }
src=$(cd "$1" && pwd) || fail "no source directory '$1'"
work=$2
python=${3:-python3}
venv=$work/venv
unset PYTHONPATH PYTHONHOME
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

mkdir -p "$work"
work=$(cd "$work" && pwd)
rm -rf "$venv" "$work/app"
"$python" -m venv "$venv" || fail "'$python -m venv' failed (Debian: apt-get install python3-venv)"

# One attach payload, this Python's: the others cost build time only.
if ! "$venv/bin/pip" install "$src" --config-settings=build-dir="$work/build" \
    --config-settings=cmake.define.HEAPSNAP_ATTACH_PYTHONS="$(command -v "$python")" \
    >"$work/pip.log" 2>&1; then
  tail -40 "$work/pip.log" >&2
  fail "pip install '$src' failed (log: $work/pip.log)"
fi

hs=$venv/bin/heapsnap
[ -x "$hs" ] || fail "pip did not install the analyzer into $venv/bin"

# The class lives in its own module so the path starts at the module table.
mkdir -p "$work/app"
cat >"$work/app/pipprobe_held.py" <<'EOF'
class PipProbe:
    def __init__(self, i):
        self.i = i
        self.name = "probe-%d" % i

held = []
EOF
cat >"$work/app/app.py" <<'EOF'
import os, sys
import heapsnap
import pipprobe_held

# Imported from the virtualenv, not from a build tree.
if not os.path.abspath(heapsnap.__file__).startswith(sys.prefix + os.sep):
    sys.exit("heapsnap imported from %s, outside %s" % (heapsnap.__file__, sys.prefix))

def main(path):
    pipprobe_held.held.extend(pipprobe_held.PipProbe(i) for i in range(4321))
    heapsnap.dump(path)
    print(heapsnap.__version__)

main(sys.argv[1])
EOF
dump=$work/app/probe.hsnap
# -E -s: no PYTHON* variables, no user site-packages.
cd "$work/app"
pyver=$("$venv/bin/python" -E -s app.py "$dump") || fail "the program could not take a dump"
[ -s "$dump" ] || fail "no dump written at $dump"

hsver=$("$hs" --version) || fail "'heapsnap --version' failed"
[ "$hsver" = "heapsnap $pyver" ] ||
  fail "versions differ: heapsnap.__version__ is '$pyver', '$hs --version' says '$hsver'"

"$venv/bin/python" -E -s -m heapsnap run --help >/dev/null ||
  fail "'python -m heapsnap run --help' failed in the virtualenv"

top=$("$hs" top "$dump" -n 1000) || fail "'heapsnap top' failed"
count=$(awk '$1 == "pipprobe_held.PipProbe" { print $2 }' <<<"$top")
[ "$count" = "4,321" ] ||
  fail "'heapsnap top' lists pipprobe_held.PipProbe ${count:+$count times }instead of 4,321 times"

path=$("$hs" path "$dump" 'PipProbe#1') || fail "'heapsnap path' failed"
first=$(head -1 <<<"$path")
grep -qF "module pipprobe_held → __dict__['held'] → list[" <<<"$first" ||
  fail "'heapsnap path' does not go through pipprobe_held.held: $first"

echo "test_pip: heapsnap $pyver from a fresh virtualenv: dump, top and path ok"
