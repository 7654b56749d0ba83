#!/bin/bash
# agent_soak.sh - the chaos soak (tests/soak/soak.py) for three seeds: 200
# mixed requests each while the agent is killed with SIGKILL at random
# moments, vCenter answers 503 bursts, ends every session, hangs a task, is
# killed and started again, the Kafka broker goes down and up, and
# PostgreSQL is restarted. Each seed passes when no request is lost or done
# twice, no VM is leaked and every final event is true (see soak.py).
# SOAK_SEEDS="4 5 6" picks other seeds; SOAK_REQUESTS the requests per seed.
# Until issue 11 items 3 (false final events when PostgreSQL goes away) and
# 10 (reboot of a powered-off VM reports success) are fixed, seeds fail on
# them; doc/reliability.md lists what each seed hit.
. "$(dirname "$0")/tap.sh"
set -u
# a final event that a kill -9 cut off before Kafka acknowledged it is
# published by the restarted agent (agent/outbox.c)
out=$(python3 "$VCAGENT_SRC/tests/soak/soak.py" outbox 2>&1)
rc=$?
echo "$out" | sed 's/^\([^#]\)/# \1/'
check "a final event not acknowledged before a kill -9 is published after the restart" test "$rc" -eq 0
# The seeds run side by side, each with peers of its own: most of a run is
# waiting (restarts, faults, slow tasks), so this costs little more than one.
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
for seed in ${SOAK_SEEDS:-1 2 3}; do
	python3 "$VCAGENT_SRC/tests/soak/soak.py" "$seed" "${SOAK_REQUESTS:-200}" \
	    >"$T/$seed.out" 2>&1 &
	echo "$!" >"$T/$seed.pid"
done
for seed in ${SOAK_SEEDS:-1 2 3}; do
	wait "$(cat "$T/$seed.pid")"
	rc=$?
	sed 's/^\([^#]\)/# \1/' "$T/$seed.out"
	check "soak seed $seed: $(tail -n 1 "$T/$seed.out" | sed 's/^soak //')" test "$rc" -eq 0
done
tap_done
