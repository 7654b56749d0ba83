#!/bin/bash
# vi_cli.sh - vcagent-vi against vcsim: about, clusters with resources, VMs,
# power operations by name, uuid and MoRef, create/find/destroy, and clear
# errors (exit 1) naming the fault and the object.
. "$(dirname "$0")/tap.sh"
set -u
T=$(mktemp -d /dev/shm/vcagent-vi-XXXXXX 2>/dev/null || mktemp -d)
chmod 755 "$T"
PEERS=$VCAGENT_SRC/tests/peers
VI=$VCAGENT_BUILD/agent/vcagent-vi
trap 'bash "$PEERS/vcsim.sh" stop "$T" >/dev/null 2>&1; rm -rf "$T"' EXIT

if ! bash "$PEERS/vcsim.sh" start "$T" >"$T/vcsim.out" 2>&1; then
	not_ok "vcsim starts"; sed 's/^/# /' "$T/vcsim.out"; tap_done
fi
ok "vcsim starts"
. "$T/vcsim.env"
cat >"$T/c.yaml" <<YAML
vmware:
  host_ip: $VCSIM_HOST
  host_port: $VCSIM_PORT
  host_username: $VCSIM_USER
  host_password: $VCSIM_PASSWORD
  ca_file: $VCSIM_CA_FILE
  cluster_name: DC0_C0
kafka:
  bootstrap_servers: 127.0.0.1:9092
database:
  connection: host=$T
YAML
vi() { "$VI" -c "$T/c.yaml" "$@"; }

vi about >"$T/out" 2>&1
check "about names vCenter" contains "$T/out" $'api_type\tVirtualCenter'
vi clusters >"$T/out" 2>&1
check "clusters with resources" grep -qE $'DC0_C0\tnode=.*\thosts=3/3\tvcpus=6\t' "$T/out"
vi networks >"$T/out" 2>&1
check "networks with kinds and VLANs" grep -qE $'^DC0_C0\tstandard\tvlan=0\tVM Network\thosts=3$' "$T/out"
check "distributed port groups with their switch" grep -qE $'^DC0_C0\tdistributed\tvlan=-\tDC0_DVPG0\tkey=.+\tswitch=.+' "$T/out"
vi vms >"$T/out" 2>&1
check "VMs listed" grep -qE $'poweredOn\t.*DC0_H0_VM0$' "$T/out"
vm=$(grep -E 'DC0_H0_VM0$' "$T/out" | cut -f1)
uuid=$(grep -E 'DC0_H0_VM0$' "$T/out" | cut -f4)

check "power-off by name" vi power-off DC0_H0_VM0
vi vms >"$T/out" 2>&1
check "it is off" grep -qE $'^'"$vm"$'\tpoweredOff' "$T/out"
check "power-on by instance uuid" vi power-on "$uuid"
check "suspend by MoRef" vi suspend "VirtualMachine:$vm"
check "resume" vi power-on "$vm"
check "find by uuid" sh -c "'$VI' -c '$T/c.yaml' find '$uuid' | grep -qx '$vm'"

vi power-on DC0_H0_VM0 >"$T/out" 2>&1
rc=$?
check "a fault exits 1" test "$rc" -eq 1
check "the fault type and the VM are named" contains "$T/out" "InvalidPowerState (VirtualMachine:$vm)"
vi power-off no-such-vm >"$T/out" 2>&1
check "an unknown VM is named" sh -c "test $? -eq 1 && grep -q 'no-such-vm' '$T/out'"
vi frobnicate x >"$T/out" 2>&1
check "an unknown command shows the usage" sh -c "test $? -eq 1 && grep -q usage '$T/out'"

check "vcsim stops clean" bash "$PEERS/vcsim.sh" stop "$T"
tap_done
