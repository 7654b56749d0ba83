#!/bin/bash
# agent_run.sh - vcagent against vcsim: it logs in, finds the configured
# clusters (and names the missing one; with vmware.uri, in the datacenter
# it names), reloads on SIGHUP only when the new
# configuration is valid, logs out and exits 0 on SIGTERM; a wrong password
# is reported with the fault type and never printed.
. "$(dirname "$0")/tap.sh"
set -u
T=$(mktemp -d /dev/shm/vcagent-run-XXXXXX 2>/dev/null || mktemp -d)
chmod 755 "$T"
PEERS=$VCAGENT_SRC/tests/peers
AGENT_PID=
cleanup() {
	[ -n "$AGENT_PID" ] && kill -9 "$AGENT_PID" 2>/dev/null
	bash "$PEERS/vcsim.sh" stop "$T" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT

if ! bash "$PEERS/vcsim.sh" start "$T" -username admin -password 'Secret!1' >"$T/vcsim.out" 2>&1; then
	not_ok "vcsim starts"; sed 's/^/# /' "$T/vcsim.out"; tap_done
fi
ok "vcsim starts"
. "$T/vcsim.env"

config() {	# config PASSWORD CLUSTERS
	cat <<YAML
vmware:
  host_ip: $VCSIM_HOST
  host_port: $VCSIM_PORT
  host_username: admin
  host_password: {env: VC_PW}
  ca_file: $VCSIM_CA_FILE
  cluster_name: $2
kafka:
  bootstrap_servers: 127.0.0.1:9092
database:
  connection: host=$T dbname=vcagent
health:
  bind_port: 0
YAML
}

config x '[DC0_C0, NoSuchCluster]' >"$T/agent.yaml"
VC_PW='Secret!1' "$VCAGENT" -c "$T/agent.yaml" >"$T/agent.log" 2>&1 &
AGENT_PID=$!
check "agent logs in" wait_for "$T/agent.log" "logged in to $VCSIM_HOST as admin" 20
check "agent finds the configured cluster" wait_for "$T/agent.log" 'cluster "DC0_C0": ' 10
check "node name is <moid>.<instanceUuid>" grep -qE 'cluster "DC0_C0": [^ ]+, 3 hosts, node [^ .]+\.[0-9a-f-]{36}$' "$T/agent.log"
check "resources are refreshed" wait_for "$T/agent.log" 'cluster "DC0_C0": 6 vCPUs on 3/3 hosts (largest 2), 12285 MB memory' 10
check "a missing cluster is named" contains "$T/agent.log" 'cluster "NoSuchCluster" (vmware.cluster_name) was not found'

# A broken configuration on SIGHUP is refused; the agent keeps running.
cp "$T/agent.yaml" "$T/agent.good"
printf 'bogus_section: {}\n' >>"$T/agent.yaml"
kill -HUP "$AGENT_PID"
check "broken reload is refused" wait_for "$T/agent.log" "keeping the running configuration" 10
check "the reason names the line" contains "$T/agent.log" "$T/agent.yaml:14:1: bogus_section: unknown section"
cp "$T/agent.good" "$T/agent.yaml"
kill -HUP "$AGENT_PID"
check "good reload is applied" wait_for "$T/agent.log" "configuration $T/agent.yaml reloaded" 10
check "agent still running" kill -0 "$AGENT_PID"

kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
rc=$?
AGENT_PID=
check "SIGTERM exits 0" test "$rc" -eq 0
check "agent logs out" contains "$T/agent.log" "logged out of $VCSIM_HOST"

# vmware.uri in place of host_ip, host_port, host_username and cluster_name:
# the agent logs in and serves the cluster it names, in its datacenter; a
# datacenter that does not hold it is named.
uri_config() {	# uri_config PATH
	sed -e '/^  host_ip:/d' -e '/^  host_port:/d' -e '/^  host_username:/d' \
	    -e "s|^  cluster_name: .*|  uri: \"vpx://admin@$VCSIM_HOST:$VCSIM_PORT$1\"|" "$T/agent.good"
}
uri_config /DC0/DC0_C0 >"$T/uri.yaml"
VC_PW='Secret!1' "$VCAGENT" -c "$T/uri.yaml" >"$T/uri.log" 2>&1 &
AGENT_PID=$!
check "with vmware.uri the agent logs in" wait_for "$T/uri.log" "logged in to $VCSIM_HOST as admin" 20
check "and serves the cluster the URI names, in its datacenter" wait_for "$T/uri.log" 'serving 1 cluster(s)' 10
kill -TERM "$AGENT_PID"; wait "$AGENT_PID"; AGENT_PID=
uri_config /DC9/DC0_C0 >"$T/uri.yaml"
VC_PW='Secret!1' "$VCAGENT" -c "$T/uri.yaml" >"$T/uri9.log" 2>&1 &
AGENT_PID=$!
check "a datacenter without the cluster is named" wait_for "$T/uri9.log" 'cluster "DC0_C0" (vmware.uri) was not found in datacenter "DC9" of vCenter' 20
kill -TERM "$AGENT_PID"; wait "$AGENT_PID"; AGENT_PID=

# A wrong password: exit 1, the fault type named, the password never shown.
VC_PW='not-the-Password-77' "$VCAGENT" -c "$T/agent.yaml" >"$T/bad.log" 2>&1
rc=$?
check "wrong password exits 1" test "$rc" -eq 1
check "wrong password reports InvalidLogin" contains "$T/bad.log" "InvalidLogin (admin@$VCSIM_HOST)"
check "password never logged" lacks "$T/bad.log" "not-the-Password-77"

# database.max_retries: a database never reached at start-up is given up on
sed 's|^  connection: .*|&\n  max_retries: 1\n  retry_interval: 1|' "$T/agent.good" >"$T/nodb.yaml"
VC_PW='Secret!1' timeout 60 "$VCAGENT" -c "$T/nodb.yaml" >"$T/nodb.log" 2>&1
rc=$?
check "an unreachable database past max_retries exits 1" test "$rc" -eq 1
check "and says why" contains "$T/nodb.log" "giving up after 1 retries (database.max_retries): stopping"

# TLS verification is on: without ca_file the agent refuses vcsim's certificate.
grep -v ca_file "$T/agent.good" >"$T/noca.yaml"
VC_PW='Secret!1' "$VCAGENT" -c "$T/noca.yaml" >"$T/noca.log" 2>&1
rc=$?
check "unverified certificate refused" sh -c "test $rc -eq 1 && grep -q certificate '$T/noca.log'"

check "vcsim stops clean" bash "$PEERS/vcsim.sh" stop "$T"
tap_done
