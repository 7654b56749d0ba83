#!/bin/bash
# dist_files.sh - the distribution ("make distdir", what "make dist" packs)
# holds every file git tracks, but for git's own (.gitignore):
# a file left out of EXTRA_DIST (a launcher source, a bench helper) builds
# and runs from a clone but not from the tarball.  Skipped outside a git
# checkout (the tarball itself).
. "$(dirname "$0")/../integration/tap.sh"
set -u
if ! git -C "$VCAGENT_SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	ok "not a git checkout: nothing to compare # SKIP"
	tap_done
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
make -s -C "$VCAGENT_BUILD" distdir distdir="$T/d" >"$T/out" 2>&1
rc=$?
check "make distdir succeeds" test "$rc" -eq 0
[ "$rc" -eq 0 ] || sed 's/^/# /' "$T/out" | tail -10
n=0
while read -r f; do
	case $f in .gitignore|*/.gitignore) continue ;; esac
	n=$((n + 1))
	[ -e "$T/d/$f" ] || { not_ok "$f is in the distribution"; }
done < <(git -C "$VCAGENT_SRC" ls-files)
check "git tracks files to compare ($n)" test "$n" -gt 100
check "no compiled Python is tracked" sh -c "! git -C '$VCAGENT_SRC' ls-files | grep -q '\.pyc$'"
tap_done
