#!/bin/bash
# bench_volume.sh - attach_volume and detach_volume through the whole agent:
# Kafka in, vcsim (vCenter), PostgreSQL, Kafka out, one request at a time,
# for both volume forms: a vmdk volume given by its shadow VM (cinder's VMDK
# driver, the shape nova's driver takes) and a First Class Disk (cinder's
# FCD driver).  Whatever agent $VCAGENT_BUILD holds is measured.
#
#   latency      the agent's share: the accepted event's time -> the
#                succeeded event's time; median and p90 over N of each
#   SOAP calls   per attach and per detach, on the wire (the vcsim
#                launcher's /ctl/calls?method=HTTP: every HTTP request to
#                it), next to the round trips nova's driver makes for the
#                same operation, counted from its code (nova
#                volumeops.py/vm_util.py at 00a03040: a property read is one
#                RetrievePropertiesEx, a task one call to start it and at
#                least one poll of its info), with the instance's VM ref
#                cached as nova caches it
#
# Environment: BENCH_QUICK=1 (3 of each instead of 20).
# Exit status: 0 only when every figure line was printed with a value.
set -u
SRC=${VCAGENT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${VCAGENT_BUILD:-$SRC}
PEERS=$SRC/tests/peers
. "$SRC/bench/bench_lib.sh"
export VCAGENT_BUILD=$BUILD
N=20
[ "${BENCH_QUICK:-0}" = 1 ] && N=3
VCAGENT=$BUILD/agent/vcagent
CMD="make bench (bench/bench_volume.sh$([ "${BENCH_QUICK:-0}" = 1 ] && echo ", BENCH_QUICK=1"))"
GOVMOMI=$(dpkg-query -W -f='${Version}' golang-github-vmware-govmomi-dev 2>/dev/null)
FIGURES=0 EMPTY=0
figure() {	# figure TEXT VALUE...: empty VALUEs make it count as missing
	local text=$1 v
	shift
	for v in "$@"; do [ -n "$v" ] || { EMPTY=$((EMPTY + 1)); echo "bench: empty figure: $text" >&2; return; }; done
	echo "$text | peers: vcsim (govmomi $GOVMOMI), PostgreSQL, Kafka mock | command: $CMD"
	FIGURES=$((FIGURES + 1))
}

bench_init volume
bench_peers "$T" 2 vcsim pg || exit 1
bench_agent_yaml bench-vol 1 bench-vol 0 >"$T/agent.yaml"
sed -i 's/^DEFAULT:/DEFAULT:\n  update_resources_interval: 3600/' "$T/agent.yaml"
"$VCAGENT" -c "$T/agent.yaml" >>"$T/agent.log" 2>&1 & AGENT_PID=$!
until_ok 30 grep -q "kafka: assigned 2 partition(s)" "$T/agent.log" ||
    { echo "bench: the agent did not start: $(tail -3 "$T/agent.log")" >&2; exit 1; }
NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$T/agent.log" | head -1)
VI=$BUILD/agent/vcagent-vi
ctl() { curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/$1"; }
http() { ctl "calls?method=HTTP"; }
# one request, waited for; prints "MS CALLS" (accepted -> succeeded; HTTP
# requests to vCenter meanwhile), or nothing when it did not succeed
one() {	# one KEY ID JSON
	local before after
	before=$(http)
	printf '%s|%s\n' "$1" "$3" | kcat -P -b "$KAFKA_BOOTSTRAP" -t vcagent.requests -K '|'
	for ((i = 0; i < 300; i++)); do
		timeout 10 kcat -C -b "$KAFKA_BOOTSTRAP" -t vcagent.results -o beginning -e -q \
		    2>/dev/null | grep -F "\"request_id\":\"$2\"" >"$T/ev"
		grep -qE '"event":"(succeeded|failed)"' "$T/ev" && break
		sleep 0.1
	done
	after=$(http)
	grep -q '"event":"succeeded"' "$T/ev" || { echo "bench: $2: $(tail -1 "$T/ev")" >&2; return; }
	python3 - "$T/ev" "$((after - before))" <<'PY'
import json, sys, datetime
t = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    t[e["event"]] = datetime.datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
print("%.1f %s" % ((t["succeeded"] - t["accepted"]).total_seconds() * 1000, sys.argv[2]))
PY
}
stats() {	# stats FILE: "median p90 median-calls" of "MS CALLS" lines
	python3 - "$1" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
if not rows:
    sys.exit(0)
ms = sorted(float(r[0]) for r in rows)
calls = sorted(int(r[1]) for r in rows)
pick = lambda v, q: v[min(len(v) - 1, int(q * len(v)))]
print("%.1f %.1f %d %d" % (pick(ms, 0.5), pick(ms, 0.9), pick(calls, 0.5), len(rows)))
PY
}

# the instance: a VM of vcsim's made through the agent needs an image;
# without Glance here, the VM is made with vcagent-vi and adopted: a spawn
# would find it by its instance uuid
SHADOW=$("$VI" -c "$T/agent.yaml" vms 2>/dev/null | awk '$NF == "DC0_C0_RP0_VM1" { print $1 }' | head -1)
INST=$("$VI" -c "$T/agent.yaml" vms 2>/dev/null | awk '$NF == "DC0_C0_RP0_VM0" { print $1 }' | head -1)
IU=$("$VI" -c "$T/agent.yaml" info "$INST" 2>/dev/null | awk -F'\t' '$1 == "config.instanceUuid" { print $2 }')
[ -n "$SHADOW" ] && [ -n "$IU" ] || { echo "bench: no VMs in vcsim's inventory" >&2; exit 1; }
# the agent knows the instance by its row
bash "$PEERS/pg.sh" psql "$T" -qc "INSERT INTO instances (uuid, name, node, vm_moref, vm_state, power_state) VALUES ('$IU', 'bench-vol', '$NODE', '$INST', 'active', 'running')" >/dev/null 2>&1 ||
    { echo "bench: cannot record the instance" >&2; exit 1; }
R=$(one v "vc-1" "{\"version\":1,\"request_id\":\"vc-1\",\"type\":\"volume_create\",\"node\":\"$NODE\",\"volume_id\":\"bench-fcd\",\"size_gb\":1}")
timeout 10 kcat -C -b "$KAFKA_BOOTSTRAP" -t vcagent.results -o beginning -e -q 2>/dev/null |
    grep -F '"request_id":"vc-1"' | grep -F '"succeeded"' >"$T/vc"
FCD=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read())["volume"]["id"])' "$T/vc" 2>/dev/null)
DSREF=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read())["volume"]["datastore"])' "$T/vc" 2>/dev/null)
[ -n "$FCD" ] || { echo "bench: volume_create failed" >&2; exit 1; }

: >"$T/va" >"$T/vd" >"$T/fa" >"$T/fd"
for ((k = 1; k <= N; k++)); do
	one "$IU" "va-$k" "{\"version\":1,\"request_id\":\"va-$k\",\"type\":\"attach_volume\",\"node\":\"$NODE\",\"instance\":{\"uuid\":\"$IU\"},\"volume_id\":\"bench-vmdk\",\"connection_info\":{\"driver_volume_type\":\"vmdk\",\"data\":{\"volume\":\"$SHADOW\"}}}" >>"$T/va"
	one "$IU" "vd-$k" "{\"version\":1,\"request_id\":\"vd-$k\",\"type\":\"detach_volume\",\"node\":\"$NODE\",\"instance\":{\"uuid\":\"$IU\"},\"volume_id\":\"bench-vmdk\"}" >>"$T/vd"
	one "$IU" "fa-$k" "{\"version\":1,\"request_id\":\"fa-$k\",\"type\":\"attach_volume\",\"node\":\"$NODE\",\"instance\":{\"uuid\":\"$IU\"},\"volume_id\":\"bench-fcd\",\"connection_info\":{\"driver_volume_type\":\"vstorageobject\",\"data\":{\"id\":\"$FCD\",\"ds_ref_val\":\"$DSREF\"}}}" >>"$T/fa"
	one "$IU" "fd-$k" "{\"version\":1,\"request_id\":\"fd-$k\",\"type\":\"detach_volume\",\"node\":\"$NODE\",\"instance\":{\"uuid\":\"$IU\"},\"volume_id\":\"bench-fcd\"}" >>"$T/fd"
done
row() {	# row NAME FILE NOVA
	local s
	s=$(stats "$2")
	set -- "$1" "$2" "$3" $s
	figure "$1 ($7 of $N, one at a time): accepted -> succeeded median $4 ms, p90 $5 ms; SOAP calls on the wire (median) $6, nova's driver >= $3 (counted from its code) | target: none (nova's count for comparison)" "${4:-}" "${6:-}"
}
row "attach_volume, vmdk volume by its shadow VM" "$T/va" 6
row "detach_volume, vmdk volume" "$T/vd" 8
row "attach_volume, First Class Disk (AttachDisk_Task)" "$T/fa" 3
row "detach_volume, First Class Disk (DetachDisk_Task)" "$T/fd" 2
echo "bench_volume: $FIGURES figure line(s), $EMPTY empty" >&2
[ "$EMPTY" = 0 ] && [ "$FIGURES" = 4 ]
