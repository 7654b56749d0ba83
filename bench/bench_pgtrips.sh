#!/bin/bash
# bench_pgtrips.sh - what the agent's workers ask of PostgreSQL: statements
# per cached spawn and per delete (the server's log_statement=all), and the
# sessions opened and transactions committed over N spawns + N deletes sent
# at once, with 1, 4 and 16 workers (pg_stat_database).
#
# Peers: vcsim, librdkafka's mock cluster, PostgreSQL 15, Glance, on
# 127.0.0.1.  Command: bash bench/bench_pgtrips.sh (VCAGENT_BUILD: the build
# dir; VCAGENT_BIN: another vcagent binary to measure).  Robust figures
# (counts), plus a wall time that is noisy on a shared machine.
set -u
SRC=${VCAGENT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${VCAGENT_BUILD:-$SRC}
BIN=${VCAGENT_BIN:-$BUILD/agent/vcagent}
PEERS=$SRC/tests/peers
N=${BENCH_N:-160}
. "$SRC/bench/bench_lib.sh"
bench_init pgtrips

bench_peers "$T" 16 vcsim glance pg || exit 1
IMG=$(bash "$PEERS/glance.sh" image "$T" 1048576)
PORT=$(python3 "$PEERS/freeport")
PGLOG=$(find "$T" -name postgres.log | head -1)
su() { /usr/lib/postgresql/15/bin/psql -X -qAt -h "$PG_HOST" -p "$PG_PORT" -U postgres -d vcagent -c "$1"; }
su "ALTER SYSTEM SET log_statement = 'all'" && su "ALTER SYSTEM SET log_connections = on" &&
    su "ALTER SYSTEM SET log_line_prefix = '%m [%p] '" && su "SELECT pg_reload_conf()" >/dev/null

start_agent() {	# start_agent WORKERS GROUP
	bench_agent_yaml bench "$1" "$2" "$PORT" >"$T/agent.yaml"
	"$BIN" -c "$T/agent.yaml" >"$T/agent.log" 2>&1 &
	AGENT_PID=$!
	for _ in $(seq 300); do grep -q "kafka: assigned" "$T/agent.log" && break; sleep 0.1; done
	NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$T/agent.log" | head -1)
}
stop_agent() { kill -TERM "$AGENT_PID"; wait "$AGENT_PID"; AGENT_PID=; }
done_n() {	# done_n TYPE: spawn/delete requests succeeded so far
	curl -s "http://127.0.0.1:$PORT/metrics" | awk -v t="$1" \
	    '$0 ~ "^vcagent_requests_total\\{type=\"" t "\",outcome=\"succeeded\"" { n += $2 } END { print n + 0 }'
}
wait_n() { for _ in $(seq 6000); do [ "$(done_n "$1")" -ge "$2" ] && return 0; sleep 0.05; done; echo "bench: timed out ($1 $2)"; exit 1; }
produce() { kcat -P -b "$KAFKA_BOOTSTRAP" -t vcagent.requests -K '|' -X linger.ms=0; }
stats() { su "SELECT sessions, xact_commit FROM pg_stat_database WHERE datname = 'vcagent'" | tr '|' ' '; }
loglines() { wc -l <"$PGLOG"; }

echo "peers: vcsim, librdkafka mock cluster, PostgreSQL 15 (fsync off), Glance; binary $BIN"

# --- statements per request, one at a time, one worker ---
start_agent 1 pgtrips
spawn_line warm 0 | produce; wait_n spawn 1
sleep 1
NS=10
ST='LOG:  (statement|execute [^:]*):'
between() { tail -n +"$(( $1 + 1 ))" "$PGLOG" | head -n "$(( $2 - $1 ))" | grep -E "$ST"; }
l0=$(loglines)
for n in $(seq 1 $NS); do
	m0=$(loglines); spawn_line one "$n" | produce; wait_n spawn $((1 + n)); sleep 0.3; m1=$(loglines)
done
l1=$(loglines)
between "$m0" "$m1" >"$T/spawn.sql"; sl="$m0..$m1"
for n in $(seq 1 $NS); do
	m0=$(loglines); delete_line one "$n" | produce; wait_n delete "$n"; sleep 0.3; m1=$(loglines)
done
l2=$(loglines)
between "$m0" "$m1" >"$T/delete.sql"; dl="$m0..$m1"
echo "statements per cached spawn (one at a time, every session, the cron's included): $(python3 -c "print(round($(between "$l0" "$l1" | wc -l) / $NS, 1))")"
echo "statements per delete: $(python3 -c "print(round($(between "$l1" "$l2" | wc -l) / $NS, 1))")"
echo "--- the last spawn's statements (server log lines $sl; [backend pid] statement) ---"
sed -E 's/^[^[]*(\[[0-9]+\]) LOG:  (statement|execute [^:]*): /\1 /' "$T/spawn.sql" | cut -c1-150 | sed 's/^/  /'
echo "--- the last delete's (lines $dl) ---"
sed -E 's/^[^[]*(\[[0-9]+\]) LOG:  (statement|execute [^:]*): /\1 /' "$T/delete.sql" | cut -c1-150 | sed 's/^/  /'
stop_agent

# --- sessions and commits over N spawns + N deletes sent at once ---
for w in 1 4 16; do
	start_agent "$w" pgtrips
	read -r s0 x0 < <(stats)
	b=$(date +%s.%N)
	for n in $(seq 1 "$N"); do spawn_line "t$w" $((1000 * w + n)); done | produce
	wait_n spawn "$N"
	for n in $(seq 1 "$N"); do delete_line "t$w" $((1000 * w + n)); done | produce
	wait_n delete "$N"
	e=$(date +%s.%N)
	read -r s1 x1 < <(stats)
	echo "$w worker(s): $N spawns + $N deletes: sessions opened $((s1 - s0 - 1)), transactions committed $((x1 - x0 - 1)) ($(python3 -c "print(round(($x1 - $x0 - 1) / (2 * $N), 1))") per request), wall $(python3 -c "print(round($e - $b, 2))") s"
	stop_agent
done
