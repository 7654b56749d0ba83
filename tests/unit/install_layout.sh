#!/bin/bash
# install_layout.sh - "make install" into a scratch DESTDIR, with this build
# tree's configured directories: the three section 8 commands in sbin (none
# in bin), the sample configuration at $(sysconfdir)/vcagent/vcagent.yaml,
# which is the path the binaries default to (their -h says it) and the one
# every installed man page names (no page names another vcagent.yaml); the
# documents the man pages refer to in $(docdir), where the installed pages
# say they are; and -h exiting 0 for each command.
. "$(dirname "$0")/../integration/tap.sh"
set -u
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# the configured directories, expanded as make expands them
dirs=$(make -s -C "$VCAGENT_BUILD" -f Makefile -f - print-dirs <<'MK' 2>"$T/err"
print-dirs:
	@echo "$(sbindir) $(bindir) $(sysconfdir) $(docdir) $(mandir)"
MK
)
read -r SBIN BIN ETC DOC MAN <<<"$dirs"
check "the build tree's directories are known ($dirs)" test -n "${MAN:-}"
make -s -C "$VCAGENT_BUILD" install DESTDIR="$T/root" >"$T/install.out" 2>&1
rc=$?
check "make install DESTDIR=... succeeds" test "$rc" -eq 0
[ "$rc" -eq 0 ] || sed 's/^/# /' "$T/install.out" | tail -20
R=$T/root
for p in vcagent vcagent-vi vcagentctl; do
	check "$p is in sbin ($SBIN)" test -x "$R$SBIN/$p"
	check "$p is not in bin" test ! -e "$R$BIN/$p"
done
CONF=$ETC/vcagent/vcagent.yaml
check "the sample configuration is at $CONF" test -f "$R$CONF"
check "vcagent -h exits 0 and names $CONF as its default" sh -c "'$R$SBIN/vcagent' -h | grep -qF '$CONF'"
check "vcagent-vi -h exits 0" sh -c "'$R$SBIN/vcagent-vi' -h >/dev/null"
check "vcagentctl -h exits 0, the usage on stdout" sh -c "'$R$SBIN/vcagentctl' -h | grep -q '^usage: vcagentctl'"
check "vcagentctl with no command is a usage error (2)" sh -c "'$R$SBIN/vcagentctl' >/dev/null 2>&1; [ \$? -eq 2 ]"
check "the installed sample configuration passes vcagent -n (its password from the environment)" sh -c "VCAGENT_VMWARE_PASSWORD=x '$R$SBIN/vcagent' -n -c '$R$CONF' >/dev/null 2>&1"
for m in man8/vcagent.8 man8/vcagent-vi.8 man8/vcagentctl.8 man5/vcagent.yaml.5; do
	page=$R$MAN/$m
	check "$m is installed" test -f "$page"
	# every vcagent.yaml path the page names is the one the binaries use
	other=$(grep -o '[^ ]*/vcagent/vcagent\.yaml' "$page" 2>/dev/null | grep -vxF "$CONF")
	check "$m names no configuration path but $CONF${other:+ (it names $other)}" test -z "$other"
	for d in $(grep -o '/[^ ]*/doc/vcagent/[a-z.]*\.md' "$page" 2>/dev/null | sort -u); do
		check "$m refers to $d, which is installed" test -f "$R$d"
	done
done
check "vcagent.8 names the configuration path" grep -qF "$CONF" "$R$MAN/man8/vcagent.8"
check "vcagent.8 names the installed requests.md" grep -qF "$DOC/requests.md" "$R$MAN/man8/vcagent.8"
check "requests.md is installed in $DOC" test -f "$R$DOC/requests.md"
envf=$(sed -n 's/^EnvironmentFile=-//p' "$VCAGENT_BUILD/etc/vcagent.service")
check "vcagent.8 names the unit's environment file (${envf:-none})" \
	sh -c "[ -n '$envf' ] && grep -qF '$envf' '$R$MAN/man8/vcagent.8'"
tap_done
