#!/bin/bash
# package.sh [TARBALL] - build the Debian package and try it on this machine.
#
# Builds vcagent_VERSION_ARCH.deb with "dpkg-buildpackage -us -uc -b", from
# TARBALL ("make dist") when one is given, else from this checkout's files;
# checks the build for compiler warnings under Debian's hardening flags and
# the package with lintian (no errors); then installs it with apt-get (which
# also proves every dependency comes from Debian's archive), checks what an
# operator relies on (the vcagent system user, the configuration as a
# conffile readable by that user only and passing "vcagent -n", the unit
# installed but not enabled, the man pages and the documents they name), and
# removes and purges it, checking that nothing of it is left but the user.
#
# The .deb and the build log stay in build-pkg/.  Output is TAP.  Needs root
# (or sudo) for apt-get and dpkg, and refuses to run where a vcagent package
# is installed already, so as not to remove an operator's.
. "$(dirname "$0")/../tests/integration/tap.sh"
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/build-pkg
TARBALL=${1:-}
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
CONF=/etc/vcagent/vcagent.yaml

bash "$ROOT/scripts/deps.sh" >&2 || { not_ok "installing the dependencies (scripts/deps.sh)"; tap_done; }

# ---- the source tree ----
rm -rf "$OUT"
mkdir -p "$OUT"
if [ -n "$TARBALL" ]; then
	tar -C "$OUT" -xzf "$TARBALL"
	SRC=$(echo "$OUT"/vcagent-*/)
elif git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	SRC=$OUT/vcagent
	mkdir -p "$SRC"
	# what git tracks, and new files it would track
	git -C "$ROOT" ls-files -z --cached --others --exclude-standard |
		(cd "$ROOT" && xargs -0 tar -cf - --no-recursion) | tar -C "$SRC" -xf -
else
	SRC=$OUT/vcagent
	mkdir -p "$SRC"
	tar -C "$ROOT" --exclude='./build*' -cf - . | tar -C "$SRC" -xf -
fi
check "the source tree has debian/ ($SRC)" test -f "$SRC/debian/control"

# ---- build ----
version=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
upstream=$(sed -n 's/^AC_INIT(\[vcagent\], \[\([^]]*\)\].*/\1/p' "$SRC/configure.ac")
check "debian/changelog's version ($version) is configure.ac's ($upstream)" is "$version" "$upstream"
arch=$(dpkg --print-architecture)
DEB=$OUT/vcagent_${version}_${arch}.deb
(cd "$SRC" && DEB_BUILD_OPTIONS="parallel=$(nproc)" dpkg-buildpackage -us -uc -b) >"$OUT/build.log" 2>&1
rc=$?
check "dpkg-buildpackage -us -uc -b builds $(basename "$DEB")" test "$rc" -eq 0 -a -f "$DEB"
if [ "$rc" -ne 0 ] || [ ! -f "$DEB" ]; then
	tail -30 "$OUT/build.log" | sed 's/^/# /'
	tap_done
fi
# the compiler's (FILE:LINE:COL: warning:), not autotools' notes
warnings=$(grep -cE '^[^ :]+:[0-9]+:[0-9]+: warning:' "$OUT/build.log")
check "the build prints no compiler warnings under Debian's hardening flags ($warnings)" test "$warnings" -eq 0
[ "$warnings" -eq 0 ] || grep -E '^[^ :]+:[0-9]+:[0-9]+: warning:' "$OUT/build.log" | head -10 | sed 's/^/# /'
upass=$(sed -n 's/^# PASS: *//p' "$OUT/build.log")
ufail=$(sed -n 's/^# FAIL: *//p' "$OUT/build.log")
check "the build ran the unit tests (${upass:-none} passed, ${ufail:-none} failed)" \
	test "${upass:-0}" -gt 0 -a "${ufail:-1}" -eq 0

lintian --fail-on error "$OUT"/vcagent_"${version}"_"${arch}".changes >"$OUT/lintian.out" 2>&1
rc=$?
check "lintian finds no errors" test "$rc" -eq 0
sed 's/^/# lintian: /' "$OUT/lintian.out"

# Every dependency is a package of the configured (Debian) archive.
deps=$(dpkg-deb -f "$DEB" Depends | tr ',|' '\n\n' | sed 's/(.*//; s/ //g' | grep .)
unknown=
for d in $deps; do
	apt-cache show --no-all-versions "$d" >/dev/null 2>&1 || unknown="$unknown $d"
done
check "every dependency ($(echo $deps)) is a package of the archive${unknown:+ (not:$unknown)}" test -z "$unknown" -a -n "$deps"

# ---- install ----
if dpkg-query -W -f='${Status}' vcagent 2>/dev/null | grep -q 'installed'; then
	not_ok "vcagent is installed on this machine already: not touching it (dpkg --purge vcagent first)"
	tap_done
fi
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$DEB" >"$OUT/install.log" 2>&1
rc=$?
check "apt-get install $(basename "$DEB") succeeds" test "$rc" -eq 0
[ "$rc" -eq 0 ] || { tail -20 "$OUT/install.log" | sed 's/^/# /'; tap_done; }
files=$(dpkg-query -L vcagent)

uid=$(id -u vcagent 2>/dev/null)
check "the system user vcagent exists (uid ${uid:-none})" sh -c "[ -n '$uid' ] && [ '${uid:-0}' -lt 1000 ]"
check "vcagent has no login shell" sh -c "getent passwd vcagent | grep -q ':/usr/sbin/nologin$'"
check "the group vcagent exists" sh -c "getent group vcagent >/dev/null"
check "vcagent -V runs from /usr/sbin" sh -c "/usr/sbin/vcagent -V >/dev/null"
check "$CONF is a conffile" sh -c "dpkg-query -W -f='\${Conffiles}' vcagent | grep -q '^ $CONF '"
check "$CONF is root:vcagent 0640, as it may hold secrets" is "$(stat -c '%U:%G %a' "$CONF")" "root:vcagent 640"
$SUDO runuser -u vcagent -- env VCAGENT_VMWARE_PASSWORD=x /usr/sbin/vcagent -n -c "$CONF" >"$OUT/n.out" 2>&1
rc=$?
check "the packaged configuration passes vcagent -n, run as vcagent (its password from the environment)" test "$rc" -eq 0
[ "$rc" -eq 0 ] || sed 's/^/# /' "$OUT/n.out" | tail -5
$SUDO runuser -u nobody -g vcagent -- env VCAGENT_VMWARE_PASSWORD=x /usr/sbin/vcagent -n -c "$CONF" >"$OUT/member.out" 2>&1
rc=$?
check "a member of the vcagent group can read it (README.Debian: vcagentctl, vcagent-vi)" test "$rc" -eq 0
$SUDO runuser -u nobody -- /usr/sbin/vcagent -n -c "$CONF" >"$OUT/nobody.out" 2>&1
rc=$?
check "another user cannot read it: vcagent -n fails naming the file" \
	sh -c "[ $rc -ne 0 ] && grep -q '$CONF' '$OUT/nobody.out'"

UNIT=/lib/systemd/system/vcagent.service
check "the unit is at $UNIT" test -f "$UNIT"
check "it runs /usr/sbin/vcagent on $CONF as vcagent" \
	sh -c "grep -qx 'ExecStart=/usr/sbin/vcagent -c $CONF' '$UNIT' && grep -qx 'User=vcagent' '$UNIT'"
check "systemd-analyze verify accepts it" systemd-analyze verify "$UNIT"
check "it is not enabled (no symlink in /etc/systemd/system)" \
	sh -c "! find /etc/systemd/system -name vcagent.service | grep -q ."
# (systemctl reads the unit files itself where systemd is not running)
check "systemctl is-enabled says disabled" is "$(systemctl is-enabled vcagent 2>&1)" "disabled"
if [ -d /run/systemd/system ]; then
	check "it was not started" sh -c "! systemctl is-active -q vcagent"
fi

for m in man8/vcagent.8 man8/vcagent-vi.8 man8/vcagentctl.8 man5/vcagent.yaml.5; do
	page=/usr/share/man/$m.gz
	check "$m is installed" test -f "$page"
	for d in $(zcat "$page" 2>/dev/null | grep -o '/usr/share/doc/vcagent/[a-z.]*\.md' | sort -u); do
		check "$m refers to $d, which is installed" test -f "$d"
	done
done
check "vcagent.8 names $CONF" sh -c "zcat /usr/share/man/man8/vcagent.8.gz | grep -qF '$CONF'"
for d in README.md requests.md imagecache.md reliability.md README.Debian copyright changelog.gz; do
	check "/usr/share/doc/vcagent/$d is installed" test -f "/usr/share/doc/vcagent/$d"
done

# A reinstall (dpkg runs it as an upgrade) keeps what the operator did:
# the edited configuration, its permissions, the unit enabled.
echo "# edited by package.sh" | $SUDO tee -a "$CONF" >/dev/null
$SUDO systemctl enable vcagent >"$OUT/enable.log" 2>&1
check "the operator enables the unit (systemctl enable)" is "$(systemctl is-enabled vcagent 2>&1)" "enabled"
$SUDO dpkg -i "$DEB" >"$OUT/reinstall.log" 2>&1
check "a reinstall succeeds" test $? -eq 0
check "a reinstall keeps the edited configuration" grep -qx '# edited by package.sh' "$CONF"
check "a reinstall keeps it root:vcagent 0640" is "$(stat -c '%U:%G %a' "$CONF")" "root:vcagent 640"
check "a reinstall keeps the unit enabled" is "$(systemctl is-enabled vcagent 2>&1)" "enabled"

# ---- remove, purge ----
$SUDO dpkg --remove vcagent >"$OUT/remove.log" 2>&1
check "dpkg --remove vcagent succeeds" test $? -eq 0
check "removed, the binaries are gone" test ! -e /usr/sbin/vcagent -a ! -e /usr/sbin/vcagentctl
check "removed, the configuration stays" test -f "$CONF"
$SUDO dpkg --purge vcagent >"$OUT/purge.log" 2>&1
check "dpkg --purge vcagent succeeds" test $? -eq 0
check "purged, dpkg knows no vcagent" sh -c "! dpkg -s vcagent >/dev/null 2>&1"
check "purged, /etc/vcagent is gone" test ! -e /etc/vcagent
check "purged, the permission override is gone" sh -c "! dpkg-statoverride --list '$CONF' >/dev/null"
left=
for f in $files; do
	[ -d "$f" ] && continue
	[ -e "$f" ] && left="$left $f"
done
check "purged, no file of the package is left${left:+ (left:$left)}" test -z "$left"
check "purged, /var/lib/vcagent is gone" test ! -e /var/lib/vcagent
check "purged, the unit's enablement is gone" \
	sh -c "! find /etc/systemd/system -name vcagent.service | grep -q ."
tap_done
