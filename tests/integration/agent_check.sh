#!/bin/bash
# agent_check.sh - "vcagent -n": a valid configuration is printed with its
# secrets masked (exit 0); broken ones are rejected with FILE:LINE:COLUMN
# naming the option (exit 1).
. "$(dirname "$0")/tap.sh"
set -u
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

base() {
	cat <<YAML
vmware:
  host_ip: vc.example.org
  host_username: admin
  host_password: hunter2-in-file
  cluster_name: [C1, C2]
kafka:
  bootstrap_servers: 127.0.0.1:9092
database:
  connection: postgresql://vc:db-pw-42@127.0.0.1/vcagent
YAML
}

# 1-3: the sample configuration
VCAGENT_VMWARE_PASSWORD=sample-secret "$VCAGENT" -n -c "$VCAGENT_SRC/etc/vcagent.yaml" >"$T/out" 2>"$T/err"
check "sample configuration is valid" test $? -eq 0
check "effective values are printed" contains "$T/out" 'vlan_interface: "vmnic0"'
check "env secret is masked" lacks "$T/out" "sample-secret"

# 4-6: secrets written in place are masked too
base >"$T/good.yaml"
"$VCAGENT" -n -c "$T/good.yaml" >"$T/out" 2>"$T/err"
check "good configuration exits 0" test $? -eq 0
check "password masked" sh -c "grep -q 'host_password: \"\\*\\*\\*\\*\\*\\*\\*\\*\"' '$T/out' && ! grep -q hunter2 '$T/out' '$T/err'"
check "database password masked" sh -c "grep -qF 'postgresql://vc:********@127.0.0.1/vcagent' '$T/out' && ! grep -q db-pw-42 '$T/out'"

# 7-8: unknown option
{ base; printf 'health:\n  bind_prot: 80\n'; } >"$T/unknown.yaml"
"$VCAGENT" -n -c "$T/unknown.yaml" >"$T/out" 2>"$T/err"
check "unknown option exits 1" test $? -eq 1
check "unknown option has its position" contains "$T/err" "$T/unknown.yaml:11:3: health.bind_prot: unknown option"

# 9-10: wrong type, out of range
{ base; printf 'DEFAULT:\n  max_concurrent_builds: many\n  reserved_host_cpus: -1\n'; } >"$T/type.yaml"
"$VCAGENT" -n -c "$T/type.yaml" >"$T/out" 2>"$T/err"
check "wrong type has its position" contains "$T/err" "$T/type.yaml:11:26: DEFAULT.max_concurrent_builds: expected an integer, got \"many\""
check "out of range has its position" contains "$T/err" "$T/type.yaml:12:23: DEFAULT.reserved_host_cpus: -1 is out of range"

# 11: missing required option
base | grep -v host_username >"$T/missing.yaml"
"$VCAGENT" -n -c "$T/missing.yaml" >"$T/out" 2>"$T/err"
check "missing required option named" contains "$T/err" "$T/missing.yaml:1:1: vmware.host_username: required option is missing"

# 12: YAML syntax error
{ base; printf 'health:\n  bind_port: [1\n'; } >"$T/syntax.yaml"
"$VCAGENT" -n -c "$T/syntax.yaml" >"$T/out" 2>"$T/err"
check "syntax error has its position" contains "$T/err" "$T/syntax.yaml:12:1: YAML syntax error"

# 13: a file that does not exist
"$VCAGENT" -n -c "$T/nope.yaml" >"$T/out" 2>"$T/err"
check "missing file named" sh -c "test $? -eq 1 && grep -qF '$T/nope.yaml: cannot open: No such file or directory' '$T/err'"

# 14: insecure TLS is warned about
{ base; printf 'glance:\n  insecure: true\n'; } | sed 's/^  host_ip: .*/&\n  insecure: true/' >"$T/insecure.yaml"
"$VCAGENT" -n -c "$T/insecure.yaml" >"$T/out" 2>"$T/err"
check "insecure is warned about" contains "$T/err" "warning: vmware.insecure is true"

# 15: a bad command line
"$VCAGENT" -x >"$T/out" 2>"$T/err"
check "unknown flag exits 1 with usage" sh -c "test $? -eq 1 && grep -q usage '$T/err'"

tap_done
