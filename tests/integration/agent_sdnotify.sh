#!/bin/bash
# agent_sdnotify.sh - what the agent tells systemd (Type=notify), read from
# a notify socket of our own as systemd would set it (NOTIFY_SOCKET,
# WATCHDOG_USEC, WATCHDOG_PID), against vcsim, PostgreSQL and Kafka:
#  - READY=1 comes only once the agent is ready as /readyz defines it: the
#    agent is started with Kafka down, sends no READY while /readyz says
#    503, and sends it once Kafka is up; /readyz, asked the moment READY
#    arrives, says ready;
#  - WATCHDOG=1 pings come every half WATCHDOG_USEC from the main loop;
#  - a SIGHUP gives RELOADING=1 then READY=1; SIGTERM gives STOPPING=1;
#  - the unit make install puts where systemd's pkg-config says units go
#    is Type=notify with WatchdogSec, ExecReload sending SIGHUP, User=vcagent
#    and the hardening the issue names, and systemd-analyze verify finds
#    nothing wrong in it but the binary's absence from its path.
. "$(dirname "$0")/tap.sh"
set -u
LOG_TAIL=80
. "$(dirname "$0")/agent_lib.sh"
agent_lib_init sdnotify
AGENT_PID= LISTEN_PID=
cleanup_extra() { [ -n "$LISTEN_PID" ] && kill "$LISTEN_PID" 2>/dev/null; }
if ! grep -q '^#define HAVE_SYSTEMD 1' "$VCAGENT_BUILD/config.h"; then
	ok "built without libsystemd: nothing to tell # SKIP"
	tap_done
fi
agent_peers 2 vcsim pg
# Kafka's brokers refuse connections until the test lets them in
check "the Kafka brokers are down" kafka_ctl down -1
GLANCE_URL=http://127.0.0.1:9	# no image is fetched here
agent_yaml agent-sd it-sdnotify

# the notify socket: each datagram with its arrival, and /readyz's answer
# the moment READY=1 came
python3 - "$T/notify" "$T/notes" "$T/agent.log" <<'PY' &
import os, re, socket, sys, time, urllib.request
path, out, log = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(out, "a", buffering=1) as f:
    while True:
        msg = s.recv(4096).decode(errors="replace")
        for line in msg.split("\n"):
            note = ""
            if line == "READY=1":
                m = re.findall(r"operator endpoints on (http://[^/]+)/", open(log).read())
                try:
                    note = " readyz=" + urllib.request.urlopen(m[-1] + "/readyz", timeout=5).read().decode().split("\n")[-2]
                except Exception as e:
                    note = " readyz=%s" % getattr(e, "code", e)
            f.write("%.3f %s%s\n" % (time.time(), line, note))
PY
LISTEN_PID=$!
until_ok 10 test -S "$T/notify"
NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=2000000 sh -c 'WATCHDOG_PID=$$ exec "$0" -c "$1"' \
    "$VCAGENT" "$T/agent.yaml" >>"$T/agent.log" 2>&1 &
AGENT_PID=$!
check "the agent starts its operator endpoints" wait_for "$T/agent.log" "operator endpoints on" 30
check "it reads the watchdog's period" wait_for "$T/agent.log" "systemd watchdog: a ping every 1.0 s" 10
check "watchdog pings come every half period" until_ok 10 sh -c "[ \$(grep -c ' WATCHDOG=1\$' '$T/notes') -ge 3 ]"
sleep 3
check "with Kafka down /readyz says 503" test "$(curl -s -o /dev/null -w '%{http_code}' "$(url)/readyz")" = 503
check "and no READY=1 was sent" sh -c "! grep -q READY=1 '$T/notes'"
check "the Kafka brokers come up" kafka_ctl up -1
check "once Kafka is up, READY=1 comes" until_ok 60 grep -q ' READY=1' "$T/notes"
check "and /readyz said ready the moment it came" grep -q ' READY=1 readyz=ready$' "$T/notes"
check "with a status line" grep -q ' STATUS=serving 1 cluster(s)' "$T/notes"
check "READY=1 came once" test "$(grep -c ' READY=1' "$T/notes")" = 1
kill -HUP "$AGENT_PID"
check "a reload: RELOADING=1" until_ok 20 grep -q ' RELOADING=1' "$T/notes"
check "then READY=1 again" until_ok 20 sh -c "[ \$(grep -c ' READY=1' '$T/notes') -eq 2 ]"
kill -TERM "$AGENT_PID"
wait "$AGENT_PID"; rc=$?; AGENT_PID=
check "SIGTERM: the agent exits 0" test "$rc" -eq 0
check "after STOPPING=1" grep -q ' STOPPING=1$' "$T/notes"

# the unit
R=$T/root
make -s -C "$VCAGENT_BUILD" install DESTDIR="$R" >"$T/install.out" 2>&1
UNITDIR=$(sed -n 's/^systemdsystemunitdir = //p' "$VCAGENT_BUILD/Makefile")
if [ -z "$UNITDIR" ]; then
	ok "configured without a unit directory (no systemd.pc): no unit to check # SKIP"
	tap_done
fi
U=$R$UNITDIR/vcagent.service
check "make install puts the unit in $UNITDIR" test -f "$U"
for line in "Type=notify" "WatchdogSec=60" 'ExecReload=/bin/kill -HUP $MAINPID' "User=vcagent" \
    "ProtectSystem=strict" "PrivateTmp=true" "NoNewPrivileges=true" "StateDirectory=vcagent"; do
	check "the unit has $line" grep -qxF "$line" "$U"
done
SBIN=$(sed -n 's/^sbindir = //p' "$VCAGENT_BUILD/Makefile")
check "ExecStart is the installed agent with the installed configuration" grep -qE "^ExecStart=/.*/sbin/vcagent -c /.*/vcagent/vcagent.yaml$" "$U"
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify --man=no "$U" >"$T/verify" 2>&1
	check "systemd-analyze verify: nothing wrong but the binary outside DESTDIR" \
	    sh -c "! grep -v -e 'is not executable' -e 'sysinit.target not found' '$T/verify' | grep -q ."
	grep -v -e 'is not executable' -e 'sysinit.target not found' "$T/verify" | sed 's/^/# /'
fi
tap_done
