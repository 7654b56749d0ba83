# bench_lib.sh - what the bench scripts share (sourced; PEERS set; the
# vmware section comes from the agent tests' vcsim_yaml):
#
#   bench_peers DIR PARTS PEER...  start PEER... (peers.sh: vcsim, glance, pg)
#                                  and the Kafka mock with vcagent.requests
#                                  (PARTS partitions), vcagent.results and
#                                  vcagent.dead-letter in DIR; source their
#                                  env files; export VC_PW and PG_DSN for the
#                                  agent's configuration.  1 with a message
#                                  if one did not start
#   bench_stop DIR                 stop them and remove DIR
#   bench_init NAME                T, a scratch directory (tmpfs when it can
#                                  be), and an EXIT trap that kills -9 the
#                                  agent in AGENT_PID and runs bench_stop
#   bench_agent_yaml HOST WORKERS GROUP PORT [PROPERTIES]
#                                  the agent's configuration for these peers
#                                  on stdout: PROPERTIES is the YAML flow map
#                                  of kafka.properties (default: the mock
#                                  broker's fetch.wait.max.ms "10"; "" for
#                                  none); glance only when GLANCE_URL is set
#   uuid N, spawn_line RUN N [IMAGE], delete_line RUN N
#                                  "key|request" lines for kcat -K '|' or
#                                  bench_produce: a cached spawn (1 vCPU,
#                                  64 MB, IMAGE or $IMG) or a delete of
#                                  instance N on $NODE; ids RUN-s-N, RUN-d-N

. "$PEERS/../integration/agent_lib.sh"

bench_peers() {
	local dir=$1 parts=$2 e
	shift 2
	bash "$PEERS/peers.sh" start "$dir" "$@" >"$dir/peers.out" 2>&1 ||
	    { echo "bench: peers: $(tail -3 "$dir/peers.out")" >&2; return 1; }
	bash "$PEERS/kafka.sh" start "$dir" -t "vcagent.requests:$parts" -t vcagent.results:1 \
	    -t vcagent.dead-letter:1 >"$dir/kafka.out" 2>&1 ||
	    { echo "bench: kafka: $(tail -3 "$dir/kafka.out")" >&2; return 1; }
	for e in vcsim glance pg kafka; do
		# shellcheck disable=SC1090
		[ -f "$dir/$e.env" ] && . "$dir/$e.env"
	done
	export VC_PW=$VCSIM_PASSWORD PG_DSN=$PG_CONNINFO
}

bench_stop() {
	bash "$PEERS/kafka.sh" stop "$1" >/dev/null 2>&1
	bash "$PEERS/peers.sh" stop "$1" >/dev/null 2>&1
	rm -rf "$1"
}

bench_init() {
	T=$(mktemp -d "/dev/shm/vcagent-$1-XXXXXX" 2>/dev/null || mktemp -d)
	chmod 755 "$T"
	AGENT_PID=
	trap 'if [ -n "$AGENT_PID" ]; then kill -9 "$AGENT_PID" 2>/dev/null; fi; bench_stop "$T"' EXIT
}

bench_agent_yaml() {
	local props=${5-'{fetch.wait.max.ms: "10"}  # the mock broker holds an empty fetch that long'}
	cat <<YAML
DEFAULT:
  host: $1
  max_concurrent_builds: $2
  sync_power_state_interval: -1
$(vcsim_yaml)
  cluster_name: [DC0_C0]
  connection_pool_size: 16
image_cache:
  manager_interval: -1
${GLANCE_URL:+glance:
  api_servers: [$GLANCE_URL]
}kafka:
  bootstrap_servers: $KAFKA_BOOTSTRAP
  group_id: $3
  session_timeout_ms: 3000
  heartbeat_interval_ms: 500
${props:+  properties: $props
}database:
  connection: {env: PG_DSN}
health:
  bind_port: $4
YAML
}

uuid() { printf 'b0000000-0000-4000-8000-%012d' "$1"; }
# (printf -v, not $(uuid): no subshell per line, so the harness's CPU
# figure is mostly what it does while the clock runs)
spawn_line() {	# spawn_line RUN N [IMAGE]
	local u
	printf -v u 'b0000000-0000-4000-8000-%012d' "$2"
	printf '%s|{"version":1,"request_id":"%s-s-%d","type":"spawn","node":"%s","instance":{"uuid":"%s","name":"b%d"},"flavor":{"vcpus":1,"memory_mb":64,"root_gb":0},"image_id":"%s"}\n' \
	    "$u" "$1" "$2" "$NODE" "$u" "$2" "${3:-$IMG}"
}
delete_line() {	# delete_line RUN N
	local u
	printf -v u 'b0000000-0000-4000-8000-%012d' "$2"
	printf '%s|{"version":1,"request_id":"%s-d-%d","type":"delete","node":"%s","instance":{"uuid":"%s"}}\n' \
	    "$u" "$1" "$2" "$NODE" "$u"
}
