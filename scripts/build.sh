#!/bin/bash
# build.sh [DIR [CFLAGS...]] - configure (once) and build vcagent out of tree
# in DIR (default: build/).  Extra arguments become CFLAGS and LDFLAGS, for
# the sanitizer build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$ROOT/build}
shift || true
FLAGS="$*"

cd "$ROOT"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
mkdir -p "$DIR"
cd "$DIR"
stamp="flags: $FLAGS"
if [ ! -f Makefile ] || [ "$(cat .vcagent-flags 2>/dev/null)" != "$stamp" ] ||
   [ "$ROOT/configure" -nt Makefile ]; then
	if [ -n "$FLAGS" ]; then
		"$ROOT/configure" -q --enable-werror CFLAGS="-g $FLAGS" LDFLAGS="$FLAGS"
	else
		"$ROOT/configure" -q --enable-werror
	fi
	echo "$stamp" >.vcagent-flags
fi
make -s -j"$(nproc)" all
make -s -j"$(nproc)" check TESTS=	# build the test programs too
