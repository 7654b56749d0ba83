#!/bin/bash
# deps.sh - install, with apt-get, everything vcagent needs to build, test and
# run its demo on Debian 12.  Quick when everything is already there.
set -euo pipefail

PKGS=(
	# build
	autoconf automake make gcc pkg-config
	# libraries vcagent links
	libcurl4-openssl-dev libxml2-dev librdkafka-dev libyaml-dev libpq-dev
	libmicrohttpd-dev libjansson-dev libssl-dev libpcre2-dev libisofs-dev
	# sd_notify; systemd's pkg-config (where the unit goes) and
	# systemd-analyze, which checks the unit
	libsystemd-dev systemd
	# tests; the fuzz harnesses (scripts/fuzz.sh): clang, its libFuzzer and
	# sanitizer runtimes, llvm-symbolizer for readable stack traces
	libcmocka-dev clang libclang-rt-dev llvm
	# isoinfo, which tests read config drives back with; qemu-img, which
	# the vcsim launcher's ExportVm makes streamOptimized disks with and
	# tests read them back with
	genisoimage qemu-utils
	# promtool, which checks /metrics and the alert rules (contrib/)
	prometheus
	# the Debian package (scripts/package.sh)
	debhelper lintian
	# peers: vcsim (Go + govmomi), Kafka tools, PostgreSQL 15, Glance
	golang-go golang-github-vmware-govmomi-dev golang-github-google-uuid-dev
	kcat postgresql-15 python3-glance tinyproxy-bin
	# scripts
	ca-certificates curl python3
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists first on a fresh machine (they may be empty).
if ! $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
	$SUDO apt-get update -q >/dev/null
	$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
