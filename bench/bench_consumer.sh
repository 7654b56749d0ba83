#!/bin/bash
# bench_consumer.sh - what the agent's consumer thread costs, and what the
# agent costs idle, in counts rather than wall time:
#
#   idle         CPU time of the idle agent (utime + stime from /proc, over
#                BENCH_IDLE_SECS) and its system calls per second (strace -c -f
#                over 5 s, when strace is there), by thread name
#   burst        BENCH_N power_off requests for instances that do not exist
#                (each fails at once, without a VM), produced while the agent
#                is stopped and read at its start: the PostgreSQL statements
#                per request, split into the consumer's (ledger insert, lease
#                upsert) and the rest (log_statement = all on the test
#                server), the transactions per request (pg_stat_database),
#                and request in to final event out from the Kafka timestamps
#
# Peers: vcsim (govmomi), librdkafka's mock cluster, PostgreSQL 15 (fsync
# off), all on 127.0.0.1.  Command: bash bench/bench_consumer.sh with
# VCAGENT_SRC and VCAGENT_BUILD set; BENCH_AGENT=path runs another binary
# (a build of an earlier commit, to compare); BENCH_PROPS="key: value; ..."
# sets kafka.properties (default: fetch.wait.max.ms "10", for the mock
# broker, which holds an empty fetch that long; BENCH_PROPS= for none).
set -u
SRC=${VCAGENT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${VCAGENT_BUILD:-$SRC}
AGENT=${BENCH_AGENT:-$BUILD/agent/vcagent}
PEERS=$SRC/tests/peers
N=${BENCH_N:-200}
IDLE=${BENCH_IDLE_SECS:-10}
. "$SRC/bench/bench_lib.sh"
bench_init benchc

bench_peers "$T" 4 vcsim pg || exit 1
SU="host=$PG_HOST port=$PG_PORT dbname=$PG_DB user=postgres"
su_psql() { psql -X -q -tA -d "$SU" -c "$1"; }
PGLOG=$(find "$T/pg/" -name postgres.log 2>/dev/null | head -1)
# kafka.properties as a YAML flow map ("key: value; ..." -> {key: value, ...})
PROPS=$(echo "${BENCH_PROPS-fetch.wait.max.ms: \"10\"}" | tr ';' '\n' | sed -n 's/^ *\(.*[^ ]\) *$/\1/p' | paste -sd, | sed 's/,/, /g')
bench_agent_yaml benchc 4 benchc 0 "${PROPS:+{$PROPS\}}" >"$T/agent.yaml"
start_agent() {
	touch "$T/agent.log"
	local from
	from=$(wc -l <"$T/agent.log" 2>/dev/null || echo 0)
	"$AGENT" -c "$T/agent.yaml" >>"$T/agent.log" 2>&1 &
	AGENT_PID=$!
	for _ in $(seq 300); do
		tail -n +"$((from + 1))" "$T/agent.log" | grep -q "kafka: assigned" && break
		sleep 0.1
	done
}
stop_agent() { kill -TERM "$AGENT_PID"; wait "$AGENT_PID"; AGENT_PID=; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$AGENT_PID/stat"; }

echo "peers: vcsim, librdkafka mock cluster (vckafkamock), PostgreSQL 15 (fsync off); 127.0.0.1"
echo "agent: $AGENT; kafka.properties: ${PROPS:-none}" | tr '\n' ' '; echo
start_agent
NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$T/agent.log" | head -1)
sleep 3
t0=$(cpu_ticks); sleep "$IDLE"; t1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
echo "idle CPU: $(( (t1 - t0) * 1000 / hz / IDLE )) ms per second (over $IDLE s)"
if command -v strace >/dev/null; then
	timeout -s INT 5 strace -c -f -q -p "$AGENT_PID" -o "$T/strace" >/dev/null 2>&1
	total=$(awk '$NF == "total" { print $4 }' "$T/strace")
	echo "idle syscalls: $(( ${total:-0} / 5 )) per second; the most frequent:"
	awk 'NR > 2 && $1 !~ /^-/ && $NF != "total" { print $4, $NF }' "$T/strace" |
	    sort -rn | head -6 | awk '{ printf "  %-16s %d/s\n", $2, $1 / 5 }'
	echo "idle threads over 5 s: wake-ups (voluntary context switches) and CPU ticks, per second:"
	snap() {
		for t in /proc/"$AGENT_PID"/task/*; do
			echo "${t##*/} $(tr ' ' _ <"$t/comm") $(awk '/^voluntary_ctxt_switches/ { print $2 }' "$t/status") $(sed 's/.*) //' "$t/stat" | awk '{ print $12 + $13 }')"
		done | sort
	}
	snap >"$T/cs0"; sleep 5; snap >"$T/cs1"
	join "$T/cs0" "$T/cs1" 2>/dev/null | awk -v hz="$hz" '{ w = $6 - $3; c = $7 - $4; if (w > 0 || c > 0) printf "  %-14s %-7s %4d wake-ups/s %5.1f ms CPU/s\n", $2, $1, w / 5, c * 1000 / hz / 5 }' | sort -k3 -rn
fi
stop_agent

# --- a burst read at start ---
for i in $(seq 1 "$N"); do
	u=$(printf 'c0000000-0000-4000-8000-%012d' "$i")
	printf '%s|{"version":1,"request_id":"c-%d","type":"power_off","node":"%s","instance":{"uuid":"%s"},"hard":true}\n' "$u" "$i" "$NODE" "$u"
done >"$T/burst"
kcat -P -b "$KAFKA_BOOTSTRAP" -t vcagent.requests -K '|' -X linger.ms=0 <"$T/burst"
su_psql "ALTER SYSTEM SET log_statement = 'all'" && su_psql "SELECT pg_reload_conf()" >/dev/null
sleep 1
x0=$(su_psql "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$PG_DB'")
l0=$(wc -l <"$PGLOG")
a0=$(wc -l <"$T/agent.log")
start_agent
for _ in $(seq 600); do
	[ "$(psql -X -tA -d "$PG_CONNINFO" -c "SELECT count(*) FROM requests WHERE request_id LIKE 'c-%' AND state IN ('succeeded', 'failed') AND NOT result_pending")" -ge "$N" ] && break
	sleep 0.2
done
sleep 1
stop_agent
x1=$(su_psql "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$PG_DB'")
su_psql "ALTER SYSTEM RESET log_statement" && su_psql "SELECT pg_reload_conf()" >/dev/null
tail -n +"$((l0 + 1))" "$PGLOG" | grep -E 'LOG:  (statement|execute [^:]*): ' >"$T/stmts"
all=$(grep -vc 'pg_stat_database\|pg_reload_conf\|ALTER SYSTEM\|count(\*) FROM requests' "$T/stmts")
ins=$(grep -c 'INSERT INTO requests' "$T/stmts")
lease=$(grep -c 'INSERT INTO cluster_leases' "$T/stmts")
echo "burst of $N requests read at start (4 partitions, 4 workers):"
awk -v n="$N" -v a="$all" -v i="$ins" -v l="$lease" -v x=$((x1 - x0)) 'BEGIN {
	printf "  statements per request: %.2f (consumer: ledger inserts %.3f, lease upserts %.3f)\n", a / n, i / n, l / n
	printf "  ledger insert statements: %d, lease upserts: %d, transactions per request: %.2f\n", i, l, x / n }'
echo "  consumer paused $(tail -n +"$((a0 + 1))" "$T/agent.log" | grep -c 'kafka: paused') times (backpressure)"
echo "  statements by kind, per request:"
sed 's/.*LOG:  [^:]*: //' "$T/stmts" | grep -v 'pg_stat_database\|pg_reload_conf\|ALTER SYSTEM\|count(\*) FROM requests' |
    cut -c1-50 | sort | uniq -c | sort -rn | head -10 | awk -v n="$N" '{ c = $1; $1 = ""; printf "    %5.2f %s\n", c / n, $0 }'
kcat -C -b "$KAFKA_BOOTSTRAP" -t vcagent.requests -o beginning -e -q -f '%T %s\n' 2>/dev/null >"$T/req.ts"
kcat -C -b "$KAFKA_BOOTSTRAP" -t vcagent.results -o beginning -e -q -f '%T %s\n' 2>/dev/null >"$T/res.ts"
python3 - "$T/req.ts" "$T/res.ts" <<'PY'
import json, sys
first, acc, fin = None, {}, {}
for line in open(sys.argv[1]):
    ts, _, body = line.partition(" ")
    first = int(ts) if first is None else min(first, int(ts))
for line in open(sys.argv[2]):
    ts, _, body = line.partition(" ")
    try: j = json.loads(body)
    except ValueError: continue
    rid = j.get("request_id") or ""
    if not rid.startswith("c-"): continue
    if j.get("event") == "accepted": acc.setdefault(rid, int(ts))
    if j.get("event") in ("succeeded", "failed"): fin.setdefault(rid, int(ts))
if not fin: print("  no final events"); sys.exit(1)
a0 = min(acc.values())
ts = sorted(acc.values())
gaps = sorted((ts[i + 1] - ts[i] for i in range(len(ts) - 1)), reverse=True)[:5]
print("  largest gaps between accepted events (ms):", *gaps)
print("  accepted events: %d; final events: %d; first accepted to last accepted %d ms, to last final %d ms (wall, rough)"
      % (len(acc), len(fin), max(acc.values()) - a0, max(fin.values()) - a0))
PY
