#!/usr/bin/env bash
# Compiles heapsnap attach's injector for aarch64 (attach/inject.c,
# attach/elfsym.c, attach/arch_aarch64.c) with the project's warnings as
# errors and links it against the cross C library, so that the port keeps
# building on an x86_64 machine. Nothing is run: the port is untested on
# hardware. Needs aarch64-linux-gnu-gcc (Debian: gcc-aarch64-linux-gnu);
# exits 77 (skipped) without it.
set -euo pipefail
cd "$(dirname "$0")/.."
cc=${HEAPSNAP_CROSS_CC:-aarch64-linux-gnu-gcc}
if ! command -v "$cc" >/dev/null; then
  echo "cross-check: skipped: no $cc (apt-get install gcc-aarch64-linux-gnu)"
  exit 77
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flags=(-std=c11 -O2 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter
       -Werror -D_GNU_SOURCE -Iattach)
objs=()
for src in attach/inject.c attach/elfsym.c attach/arch_aarch64.c; do
  obj=$out/$(basename "$src" .c).o
  "$cc" "${flags[@]}" -c "$src" -o "$obj"
  objs+=("$obj")
done
# every function the injector takes from the C library is there
printf '%s\n' '#include "inject.h"' \
  'int main(void) { char e[256]; return hs_attach_check(1, ".", e, sizeof(e)); }' >"$out/main.c"
"$cc" "${flags[@]}" "$out/main.c" "${objs[@]}" -o "$out/attach"
echo "cross-check: heapsnap attach compiles and links for aarch64 ($cc $("$cc" -dumpversion))"
