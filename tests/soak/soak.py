#!/usr/bin/env python3
"""soak.py - the chaos soak: mixed requests through Kafka to vcagent while
the agent is killed (kill -9) at random moments and its peers fail, then the
promise is checked: every request ends with exactly one true final event,
nothing is lost or done twice, no VM is leaked.

    soak.py SEED [REQUESTS]      (REQUESTS: the mixed requests, default 200)
    soak.py outbox               a final event whose acknowledgement a kill -9
                                 cut off is published by the restarted agent

All randomness (which requests, on which instances, the order of the faults,
when the agent is killed, how long a peer stays down) comes from SEED, which
is printed first: `soak.py SEED` replays a run (the machine's timing still
varies). Environment: VCAGENT_SRC, VCAGENT_BUILD (as for the tests), SOAK_KEEP=1
keeps the temporary directory (its path is printed); SOAK_SABOTAGE=1 checks
the checks: after the last wave a VM is powered off behind the agent's back
and a live instance's row is marked deleted, which must end in false=1
leaked=1 and FAIL.

The requests, 200 by default, are spawn, delete, power_on, power_off (hard),
reboot (hard), resize (CPU and memory, sometimes a larger root disk), migrate
(between the two clusters) and attach/detach_interface, on instances that
come and go; they are sent in waves. During each wave the agent is killed
with SIGKILL at a random moment and started again, and one fault hits:

  kill      nothing more
  503       vCenter answers a burst of 3-8 bare HTTP 503s (/ctl/status)
  session   vCenter ends every session (/ctl/expire-sessions): the next call
            gets NotAuthenticated
  hang      the next call of one VM task method returns a task that never
            ends (/ctl/async, delay 1 h); the agent's vmware.task_timeout
            (4 s here) must end the request, failed, and cancel the task
  kafka     the Kafka broker goes down (connections refused) and up again
  pg        PostgreSQL is stopped and started again, its data kept
  vcsim     vCenter is killed (SIGKILL) and started again: same address and
            certificate, but the simulator's inventory is made anew

After each wave, once every request of it has a final event (or a bound has
passed: the rest are lost), the checks run:

  lost        a request without a final event (succeeded/failed/rejected),
              or whose ledger row is not finished
  duplicated  a request with two final events that disagree, or an instance
              with more than one VM; a final event published again unchanged
              for a redelivered request (doc/requests.md, "Delivery") is
              counted as "republished", not as a duplicate
  leaked      a VM (with an instance uuid) that no live instance row
              explains, or a live row in state active whose VM is missing
  false       the last final event of an instance is "succeeded" but vCenter
              disagrees: the VM is missing, or in another power state, or
              (after a delete) still there

vcsim restart: the simulator cannot keep its inventory, so a restart is
vCenter losing every VM (but, as vCenter, never reusing a MoRef: the
launcher is started again with -moref-start). VMs whose instance's last success came before the
new vCenter answered are gone through no fault of the agent: their rows are
counted as "wiped", not leaked, and expected without a VM. Everything after
the restart is checked as usual: the agent must log in again and find its
clusters by itself, and each request in flight must end with a true event
(a spawn that succeeds after the restart must have its VM in the new
inventory).

At the end every instance still alive is deleted, and nothing may be left:
no VM with an instance uuid, no live row. Exit 0 when every check passes.
The last line is the summary, for tests/soak/soak.sh.
"""

import calendar
import json
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("VCAGENT_SRC") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("VCAGENT_BUILD") or SRC
PEERS = os.path.join(SRC, "tests", "peers")
VCAGENT = os.path.join(BUILD, "agent", "vcagent")
VI = os.path.join(BUILD, "agent", "vcagent-vi")
FINAL = ("succeeded", "failed", "rejected")
FAULTS = ["kill", "503", "session", "hang", "kafka", "pg", "vcsim"]
TASK_TIMEOUT = 4
WAVE_BOUND = 60        # seconds a wave may take to end before its rest counts as lost
SLOW = ["CreateVM_Task", "PowerOnVM_Task", "PowerOffVM_Task", "ResetVM_Task",
        "ReconfigVM_Task", "RelocateVM_Task", "Destroy_Task"]
POWER = {"poweredOn": "running", "poweredOff": "shutdown", "suspended": "suspended"}


def note(msg):
    print("# " + msg, flush=True)


def parse_time(s):
    """The events' "time" (2026-11-22T07:27:51.754Z) in seconds since the epoch."""
    try:
        base, frac = s.rstrip("Z").split(".")
        return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + float("0." + frac)
    except (ValueError, AttributeError):
        return 0.0


class Soak:
    def __init__(self, seed, nreq):
        self.seed = seed
        self.nreq = nreq
        self.rng = random.Random(seed)
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.t = tempfile.mkdtemp(prefix="vcagent-soak-", dir=base)
        os.chmod(self.t, 0o755)
        self.env = {}
        self.agent = None
        self.log = os.path.join(self.t, "agent.log")
        self.sent = []           # [(request id, instance uuid, type, wave)] in send order
        self.insts = {}          # uuid -> model: alive, on, node, ports, root_gb
        self.seq = 0
        self.faults = {}         # fault -> times injected
        self.kills = 0
        self.wiped_before = 0.0  # events before this time may describe VMs a vcsim restart took
        self.problems = []       # (kind, text)
        self.reported = set()    # (kind, finding) counted already
        self.vcsim_restarts = 0
        self.dup_seen = set()    # requests already counted as duplicated
        self.republished = {}    # request -> identical final events again
        self.wiped_set = set()   # instances whose VM a vcsim restart took
        self.counts = {"lost": 0, "duplicated": 0, "leaked": 0, "false": 0,
                       "republished": 0, "wiped": 0, "unbounded": 0}

    # ---- plumbing ----
    def run(self, args, check=True, timeout=120, **kw):
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=timeout, **kw)
        if check and r.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(args), r.returncode,
                                                     r.stderr.strip()[-2000:]))
        return r.stdout

    def peer(self, name, *args, **kw):
        return self.run(["bash", os.path.join(PEERS, name + ".sh")] + list(args), **kw)

    def source(self, name):
        with open(os.path.join(self.t, name + ".env")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k:
                    self.env[k] = " ".join(shlex.split(v))

    def psql(self, q):
        return self.peer("pg", "psql", self.t, "-tAF", "\t", "-c", q).splitlines()

    def ctl(self, path):
        out = self.run(["curl", "-s", "--max-time", "10", "--cacert", self.env["VCSIM_CA_FILE"],
                        "-X", "POST", self.env["VCSIM_CTL"] + path], check=False)
        return out.strip()

    def problem(self, kind, text):
        # the same finding in a later wave's check counts once
        key = (kind, re.sub(r"\(last: .*|: \d+ final events.*|, ledger: .*", "", text))
        if key in self.reported:
            return
        self.reported.add(key)
        self.counts[kind] += 1
        self.problems.append((kind, text))
        note("%s: %s" % (kind.upper(), text))

    # ---- peers and the agent ----
    def start(self):
        self.cert = os.path.join(self.t, "vcsim-cert.pem")
        self.vcsim_flags = ["-cluster", "2", "-vm", "0", "-cert", self.cert]
        self.peer("vcsim", "start", self.t, *self.vcsim_flags)
        self.peer("peers", "start", self.t, "glance", "pg")
        self.peer("kafka", "start", self.t, "-t", "vcagent.requests:4", "-t",
                  "vcagent.results:1", "-t", "vcagent.dead-letter:1")
        for p in ("vcsim", "glance", "pg", "kafka"):
            self.source(p)
        self.image = self.peer("glance", "image", self.t, "524288").strip()
        self.config = os.path.join(self.t, "agent.yaml")
        with open(self.config, "w") as f:
            f.write("""DEFAULT:
  host: soak-agent
  max_concurrent_builds: 4
  sync_power_state_interval: 2
vmware:
  host_ip: {VCSIM_HOST}
  host_port: {VCSIM_PORT}
  host_username: {VCSIM_USER}
  host_password: {{env: VC_PW}}
  ca_file: {VCSIM_CA_FILE}
  cluster_name: [DC0_C0, DC0_C1]
  task_timeout: {tt}
  connect_timeout: 5
  call_timeout: 30
glance:
  api_servers: [{GLANCE_URL}]
kafka:
  bootstrap_servers: {KAFKA_BOOTSTRAP}
  properties: {{fetch.wait.max.ms: "10"}}  # the mock broker holds an empty fetch that long
  group_id: soak
  session_timeout_ms: 3000
  heartbeat_interval_ms: 500
database:
  connection: {{env: PG_DSN}}
  retry_interval: 1
health:
  bind_port: 0
""".format(tt=TASK_TIMEOUT, **self.env))
        self.agent_env = dict(os.environ, VC_PW=self.env["VCSIM_PASSWORD"],
                              PG_DSN=self.env["PG_CONNINFO"])
        self.start_agent()
        if not self.wait_log("kafka: assigned 4 partition(s)", 0, 60):
            raise RuntimeError("the agent did not join the group")
        self.nodes = []
        for c in ("DC0_C0", "DC0_C1"):
            for line in open(self.log):
                if 'cluster "%s": ' % c in line and " node " in line:
                    self.nodes.append(line.split(" node ")[-1].strip())
                    break
        if len(self.nodes) != 2:
            raise RuntimeError("the agent names no nodes")

    def start_agent(self):
        with open(self.log, "a") as lf:
            lf.write("==== soak: agent started\n")
            lf.flush()
            self.agent = subprocess.Popen([VCAGENT, "-c", self.config], stdout=lf, stderr=lf,
                                          stdin=subprocess.DEVNULL, env=self.agent_env)

    def kill_agent(self):
        if self.agent is not None:
            self.agent.send_signal(signal.SIGKILL)
            self.agent.wait()
            self.agent = None
            with open(self.log, "a") as lf:
                lf.write("==== soak: agent killed (SIGKILL)\n")

    def log_size(self):
        return os.path.getsize(self.log)

    def wait_log(self, text, since, seconds):
        end = time.time() + seconds
        while time.time() < end:
            with open(self.log, errors="replace") as f:
                f.seek(since)
                if text in f.read():
                    return True
            if self.agent is not None and self.agent.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def stop(self):
        if self.agent is not None:
            self.agent.send_signal(signal.SIGKILL)
            self.agent.wait()
            self.agent = None
        for p in ("kafka", "peers"):
            try:
                self.peer(p, "stop", self.t, check=False)
            except Exception:   # noqa: BLE001 - best effort teardown
                pass
        if os.environ.get("SOAK_KEEP") == "1":
            note("kept " + self.t)
        else:
            shutil.rmtree(self.t, ignore_errors=True)

    # ---- requests ----
    def new_uuid(self):
        return "50a40000-0000-4000-8000-%04d%08d" % (self.seed % 10000, len(self.insts) + 1)

    def rid(self, kind):
        self.seq += 1
        return "soak-%d-%03d-%s" % (self.seed, self.seq, kind)

    def gen(self, wave):
        """One request: (key, json text); the model assumes it succeeds."""
        rng = self.rng
        alive = [u for u, m in sorted(self.insts.items()) if m["alive"]]
        weights = [("spawn", 22), ("delete", 8), ("power_off", 12), ("power_on", 12),
                   ("reboot", 8), ("resize", 10), ("migrate", 10), ("attach_interface", 10),
                   ("detach_interface", 8)]
        kind = rng.choices([k for k, _ in weights], [w for _, w in weights])[0]
        if not alive or len(alive) < 3:
            kind = "spawn"
        m = None
        if kind != "spawn":
            u = rng.choice(alive)
            m = self.insts[u]
            if kind == "power_on" and m["on"]:
                kind = "power_off"
            elif kind == "power_off" and not m["on"]:
                kind = "power_on"
            # a reboot goes to instances that are off too: it must fail then
            elif kind == "detach_interface" and not m["ports"]:
                kind = "attach_interface"
        if kind == "spawn":
            u = self.new_uuid()
            m = {"alive": True, "on": True, "node": rng.choice(self.nodes), "ports": [],
                 "root_gb": 0, "nport": 0}
            self.insts[u] = m
        req = {"version": 1, "request_id": self.rid(kind), "type": kind, "node": m["node"],
               "instance": {"uuid": u}}
        if kind == "spawn":
            req["instance"]["name"] = "soak-" + u[-6:]
            req["flavor"] = {"vcpus": 1, "memory_mb": 64, "root_gb": 0}
            req["image_id"] = self.image
        elif kind == "delete":
            m["alive"] = False
        elif kind == "power_off":
            req["hard"] = True
            m["on"] = False
        elif kind == "power_on":
            m["on"] = True
        elif kind == "reboot":
            req["hard"] = True
        elif kind == "resize":
            if rng.random() < 0.25:
                m["root_gb"] += 1
            req["flavor"] = {"vcpus": rng.choice([1, 2]), "memory_mb": rng.choice([64, 128]),
                             "root_gb": m["root_gb"]}
        elif kind == "migrate":
            other = [n for n in self.nodes if n != m["node"]][0]
            req["destination"] = {"node": other}
            m["node"] = other
        elif kind == "attach_interface":
            m["nport"] += 1
            pid = "9a8b0000-0000-4000-8000-%s%04d" % (u[-8:], m["nport"])
            req["port"] = {"id": pid, "network": "VM Network"}
            m["ports"].append(pid)
        elif kind == "detach_interface":
            pid = rng.choice(m["ports"])
            m["ports"].remove(pid)
            req["port"] = {"id": pid}
        self.sent.append((req["request_id"], u, kind, wave))
        return u, json.dumps(req)

    def send(self, msgs):
        data = "".join("%s|%s\n" % (k, v) for k, v in msgs)
        for _ in range(60):
            r = subprocess.run(["kcat", "-P", "-b", self.env["KAFKA_BOOTSTRAP"], "-t",
                                "vcagent.requests", "-K", "|"], input=data,
                               universal_newlines=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            if r.returncode == 0:
                return
            time.sleep(0.5)
        raise RuntimeError("cannot send requests: " + r.stderr.strip())

    def events(self):
        r = subprocess.run(["kcat", "-C", "-b", self.env["KAFKA_BOOTSTRAP"], "-t",
                            "vcagent.results", "-o", "beginning", "-e", "-q"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           universal_newlines=True, timeout=60)
        out = []
        for line in r.stdout.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def finals(self, evs):
        f = {}
        for e in evs:
            if e.get("event") in FINAL and e.get("request_id"):
                f.setdefault(e["request_id"], []).append(e)
        return f

    # ---- faults ----
    def fault(self, kind):
        rng = self.rng
        if kind == "kill":
            return "nothing more"
        if kind == "503":
            n = rng.randint(3, 8)
            self.ctl("/status?code=503&count=%d" % n)
            return "%d bare HTTP 503s" % n
        if kind == "session":
            return "sessions ended: " + self.ctl("/expire-sessions")
        if kind == "hang":
            m = rng.choice(["PowerOnVM_Task", "CreateVM_Task"])     # every spawn calls both
            self.hang_method = m
            self.ctl("/async?method=%s&delay=1h&count=1" % m)
            return "the next %s never ends" % m
        if kind == "kafka":
            d = rng.uniform(1, 3)
            self.peer("kafka", "ctl", self.t, "down", "-1")
            time.sleep(d)
            self.peer("kafka", "ctl", self.t, "up", "-1")
            return "broker down %.1f s" % d
        if kind == "pg":
            d = rng.uniform(0.5, 3)
            self.peer("pg", "pause", self.t)
            time.sleep(d)
            self.peer("pg", "resume", self.t)
            return "PostgreSQL stopped %.1f s, started again" % d
        if kind == "vcsim":
            d = rng.uniform(0.2, 2)
            os.kill(int(self.env["VCSIM_PID"]), signal.SIGKILL)
            time.sleep(d)
            self.vcsim_restarts += 1
            self.peer("vcsim", "start", self.t, *self.vcsim_flags, "-listen",
                      "127.0.0.1:" + self.env["VCSIM_PORT"], "-moref-start",
                      str(1000000 * self.vcsim_restarts))
            self.source("vcsim")
            self.wiped_before = time.time()
            return "vCenter killed, started again after %.1f s (new inventory)" % d
        raise ValueError(kind)

    # ---- a wave ----
    def wave(self, w, kind, n):
        msgs = [self.gen(w) for _ in range(n)]
        ids = [s[0] for s in self.sent if s[3] == w]
        kill_at = self.rng.uniform(0, 2.0)
        fault_at = self.rng.uniform(0, 1.5)
        # slow tasks, so that the kill and the fault find work in flight
        slow = self.rng.sample(SLOW, self.rng.randint(1, 3))
        delays = [(m, self.rng.uniform(0.5, 2.0)) for m in slow]
        for m, d in delays:
            self.ctl("/async?method=%s&delay=%dms&count=%d" % (m, d * 1000, self.rng.randint(2, 6)))
        note("wave %d: slow tasks: %s" % (w, ", ".join("%s %.1f s" % md for md in delays)))
        if kind == "hang":
            # armed first, and the kill comes after the bound: a kill while
            # the task hangs would let the restarted agent adopt the VM
            fault_at, kill_at = 0, TASK_TIMEOUT + 3 + kill_at
        t0 = time.time()
        if kind == "hang":
            note("wave %d: hang: %s" % (w, self.fault(kind)))
            self.faults[kind] = self.faults.get(kind, 0) + 1
            fault_at = None
        self.send(msgs)
        # the fault and the kill -9, in the order their moments fall
        steps = sorted([(kill_at, "kill")] + ([(fault_at, "fault")] if fault_at is not None
                                               else []))
        for at, what in steps:
            delay = t0 + at - time.time()
            if delay > 0:
                time.sleep(delay)
            if what == "fault":
                note("wave %d: %s at +%.1f s: %s" % (w, kind, time.time() - t0, self.fault(kind)))
                self.faults[kind] = self.faults.get(kind, 0) + 1
            else:
                self.kill_agent()
                self.kills += 1
                since = self.log_size()
                self.start_agent()
                note("wave %d: agent killed at +%.1f s, started again" % (w, time.time() - t0))
        if kind == "hang":
            # the request whose task hangs ends after task_timeout
            pass
        end = time.time() + WAVE_BOUND
        while True:
            fin = self.finals(self.events())
            left = [i for i in ids if i not in fin]
            if not left or time.time() > end:
                break
            if self.agent.poll() is not None:
                note("wave %d: the agent exited (%d): started again" % (w, self.agent.returncode))
                self.start_agent()
            time.sleep(0.3)
        note("wave %d: %d requests, %d ended in %.1f s" % (w, len(ids), len(ids) - len(left),
                                                           time.time() - t0))
        if kind == "hang":
            held = self.run(["curl", "-s", "--cacert", self.env["VCSIM_CA_FILE"],
                             self.env["VCSIM_CTL"] + "/tasks"], check=False)
            self.ctl("/async?method=%s&delay=0" % self.hang_method)
            bounded = [i for i in ids if i in fin and any(
                e["event"] == "failed" and "did not finish" in json.dumps(e) for e in fin[i])]
            note("wave %d: requests failed by the task bound: %s" % (w, bounded))
            spawns = [s for s in self.sent if s[3] == w and s[2] == "spawn"]
            if spawns and len(bounded) != 1:
                self.problem("unbounded", "wave %d: the %s that never ends failed %d request(s) "
                             "with the bound, not 1; /ctl/tasks: %s" %
                             (w, self.hang_method, len(bounded), held.replace("\n", " | ")))
        self.check(w)

    # ---- checks ----
    def vms(self):
        for i in range(10):     # a 503 burst may still be going on
            try:
                out = self.run([VI, "-c", self.config, "vms"], env=self.agent_env)
                break
            except RuntimeError:
                if i == 9:
                    raise
                time.sleep(1)
        vms = []
        for line in out.splitlines():
            f = line.split("\t")
            if len(f) >= 5 and f[3] != "-":
                vms.append({"moref": f[0], "power": POWER.get(f[1], f[1]), "uuid": f[3].lower()})
        return vms

    def check(self, w, final=False):
        evs = self.events()
        fin = self.finals(evs)
        ledger = {}
        for row in self.psql("SELECT request_id, state FROM requests WHERE request_id LIKE "
                             "'soak-%d-%%'" % self.seed):
            k, _, v = row.partition("\t")
            ledger[k] = v
        rows = {}
        for row in self.psql("SELECT uuid, vm_state, power_state, coalesce(vm_moref, ''), node, "
                             "deleted_at IS NOT NULL FROM instances"):
            f = row.split("\t")
            rows[f[0].lower()] = {"vm_state": f[1], "power": f[2], "moref": f[3], "node": f[4],
                                  "deleted": f[5] == "t"}
        vms = self.vms()
        by_uuid = {}
        for v in vms:
            by_uuid.setdefault(v["uuid"], []).append(v)
        checked = [s for s in self.sent if s[3] <= w]
        # lost, duplicated
        for rid, u, kind, wv in checked:
            if wv != w and not final:
                continue
            e = fin.get(rid, [])
            if not e:
                self.problem("lost", "%s (%s of %s, wave %d): no final event; ledger: %s" %
                             (rid, kind, u, wv, ledger.get(rid, "no row")))
                continue
            if ledger.get(rid) not in ("succeeded", "failed"):
                self.problem("lost", "%s: final event %s, but the ledger says %s" %
                             (rid, e[-1]["event"], ledger.get(rid, "no row")))
        for rid, e in fin.items():
            if not rid.startswith("soak-%d-" % self.seed) or len(e) < 2:
                continue
            strip = [json.dumps({k: v for k, v in x.items() if k != "time"}, sort_keys=True)
                     for x in e]
            if len(set(strip)) > 1 and rid not in self.dup_seen:
                self.dup_seen.add(rid)
                self.problem("duplicated", "%s: %d final events that differ: %s" %
                             (rid, len(e), " / ".join(strip)))
            elif len(set(strip)) == 1:
                self.republished[rid] = len(e) - 1
                self.counts["republished"] = sum(self.republished.values())
        for u, vs in by_uuid.items():
            if len(vs) > 1:
                self.problem("duplicated", "instance %s has %d VMs: %s" %
                             (u, len(vs), ", ".join(v["moref"] for v in vs)))
        # leaked: VMs no live row explains
        for u, vs in by_uuid.items():
            r = rows.get(u)
            if r is None or r["deleted"]:
                self.problem("leaked", "VM %s (instance %s) has %s" %
                             (vs[0]["moref"], u, "no row" if r is None else "a deleted row"))
        # truth: the last final event of each instance against vCenter
        last = {}
        for rid, u, kind, wv in checked:
            if rid in fin:
                last[u] = (rid, kind, fin[rid][-1])
        for u, (rid, kind, e) in sorted(last.items()):
            r = rows.get(u)
            vs = by_uuid.get(u, [])
            before_wipe = parse_time(e.get("time")) < self.wiped_before
            if e["event"] != "succeeded":
                if r and not r["deleted"] and r["vm_state"] == "active" and not vs and (
                        before_wipe or self.wiped(u, fin)):
                    self.wiped_set.add(u)
                    self.counts["wiped"] = len(self.wiped_set)
                elif r and not r["deleted"] and r["vm_state"] == "active" and not vs:
                    self.problem("leaked", "instance %s: row active, no VM (last: %s failed: %s; "
                                 "history: %s)" % (u, rid, json.dumps(e.get("error")),
                                                   self.history(u, fin)))
                continue
            if kind == "delete":
                if vs:
                    self.problem("false", "%s succeeded, but VM %s is still there" %
                                 (rid, vs[0]["moref"]))
                if r and not r["deleted"]:
                    self.problem("false", "%s succeeded, but the row is not deleted" % rid)
                continue
            if not vs:
                if before_wipe or self.wiped(u, fin):
                    self.wiped_set.add(u)
                    self.counts["wiped"] = len(self.wiped_set)
                    continue
                self.problem("false", "%s (%s) succeeded, but instance %s has no VM" %
                             (rid, kind, u))
                continue
            want = (e.get("instance") or {}).get("power_state")
            if want and vs[0]["power"] != want:
                self.problem("false", "%s (%s) succeeded with power_state %s, but VM %s is %s" %
                             (rid, kind, want, vs[0]["moref"], vs[0]["power"]))
            if r is None or r["deleted"]:
                self.problem("false", "%s (%s) succeeded, but instance %s has no live row" %
                             (rid, kind, u))
        return vms, rows

    def history(self, u, fin):
        """Instance u's requests and their final events, for a report."""
        return ", ".join("%s %s" % (rid, "/".join(e["event"] for e in fin.get(rid, [])) or "-")
                         for rid, uu, kind, wv in self.sent if uu == u)

    def wiped(self, u, fin):
        """Instance u had a VM before the last vcsim restart."""
        if not self.wiped_before:
            return False
        for rid, uu, kind, wv in self.sent:
            if uu != u or kind == "delete" or rid not in fin:
                continue
            # a VM existed then: a success, or a failure naming the VM (a
            # spawn whose power-on hung leaves one, which a power_on adopts)
            for ev in fin[rid]:
                if parse_time(ev.get("time")) < self.wiped_before and (
                        ev["event"] == "succeeded" or (ev.get("instance") or {}).get("vm")):
                    return True
        return False

    def sabotage(self, w):
        """Check the checks: a VM powered off behind the agent's back must
        count as a false event, a row marked deleted under a VM as a leak."""
        fin = self.finals(self.events())
        last = {}
        for rid, u, kind, wv in self.sent:
            if rid in fin:
                last[u] = fin[rid][-1]
        on = [v for v in self.vms() if v["power"] == "running" and v["uuid"] in last and
              last[v["uuid"]]["event"] == "succeeded" and
              (last[v["uuid"]].get("instance") or {}).get("power_state") == "running"]
        if len(on) < 2:
            note("sabotage: fewer than 2 running VMs")
            return
        self.run([VI, "-c", self.config, "power-off", on[0]["moref"]], env=self.agent_env)
        self.psql("UPDATE instances SET deleted_at = now() WHERE uuid = '%s'" % on[1]["uuid"])
        note("sabotage: %s powered off in vCenter, the row of %s marked deleted" %
             (on[0]["moref"], on[1]["uuid"]))
        self.check(w)

    def cleanup_wave(self, w):
        """Delete every instance the soak made; then nothing may remain."""
        msgs = []
        fin = self.finals(self.events())

        def delete_failed(u):
            # its last delete ended, truthfully, in failure (a fault, vCenter
            # gone): the instance is still there, and is deleted again
            dels = [s[0] for s in self.sent if s[1] == u and s[2] == "delete"]
            return bool(dels) and bool(fin.get(dels[-1])) and \
                all(e.get("event") != "succeeded" for e in fin[dels[-1]])
        for u, m in sorted(self.insts.items()):
            req = {"version": 1, "request_id": self.rid("delete"), "type": "delete",
                   "node": m["node"], "instance": {"uuid": u}}
            if not m["alive"] and not delete_failed(u) and self.rng.random() < 0.8:
                continue        # most deleted ones again: a delete of a missing VM succeeds
            m["alive"] = False
            self.sent.append((req["request_id"], u, "delete", w))
            msgs.append((u, json.dumps(req)))
        self.send(msgs)
        ids = [s[0] for s in self.sent if s[3] == w]
        end = time.time() + WAVE_BOUND
        while time.time() < end:
            fin = self.finals(self.events())
            if all(i in fin for i in ids):
                break
            time.sleep(0.3)
        note("cleanup: %d deletes" % len(ids))
        vms, rows = self.check(w, final=True)
        for v in vms:
            if v["uuid"].startswith("50a40000-"):
                self.problem("leaked", "after deleting everything, VM %s (instance %s) is left"
                             % (v["moref"], v["uuid"]))
        live = [u for u, r in rows.items() if not r["deleted"] and u.startswith("50a40000-")]
        fin = self.finals(self.events())
        for u in live:
            hist = ["%s:%s" % (s[0], "/".join(e.get("event", "?") for e in fin.get(s[0], []))
                               or "none") for s in self.sent if s[1] == u]
            self.problem("leaked", "after deleting everything, instance row %s is live "
                         "(its requests: %s)" % (u, ", ".join(hist)))

    def soak(self):
        note("seed %d, %d requests (replay: tests/soak/soak.py %d %d)" %
             (self.seed, self.nreq, self.seed, self.nreq))
        self.start()
        order = FAULTS[:]
        self.rng.shuffle(order)
        per = self.nreq // len(order)
        for w, kind in enumerate(order):
            n = per if w < len(order) - 1 else self.nreq - per * (len(order) - 1)
            self.wave(w, kind, n)
        if os.environ.get("SOAK_SABOTAGE") == "1":
            self.sabotage(len(order) - 1)
        self.cleanup_wave(len(order))
        if self.agent is not None and self.agent.poll() is not None:
            self.problem("lost", "the agent died: exit %d" % self.agent.returncode)
        self.agent.send_signal(signal.SIGTERM)
        try:
            rc = self.agent.wait(timeout=90)
        except subprocess.TimeoutExpired:
            rc = "none (hung)"
        self.agent = None
        if rc != 0:
            self.problem("lost", "SIGTERM: the agent exited %s" % rc)

    def summary(self):
        nf = sum(self.faults.values()) + self.kills
        c = self.counts
        ok = not self.problems
        return ("soak seed=%d requests=%d cleanup=%d faults=%d (kill-9=%d %s) lost=%d "
                "duplicated=%d leaked=%d false=%d unbounded=%d republished=%d wiped=%d %s" %
                (self.seed, self.nreq, len(self.sent) - self.nreq, nf, self.kills,
                 " ".join("%s=%d" % (k, v) for k, v in sorted(self.faults.items())),
                 c["lost"], c["duplicated"], c["leaked"], c["false"], c["unbounded"],
                 c["republished"],
                 c["wiped"], "ok" if ok else "FAIL"))


def outbox():
    """The regression test for final events lost by a crash: a spawn ends
    while the broker is down, the agent is killed before Kafka acknowledged
    its final event, and the restarted agent must publish it (once)."""
    s = Soak(0, 0)
    ok = False
    try:
        s.start()
        s.ctl("/async?method=CreateVM_Task&delay=3000ms&count=1")
        u, text = s.gen(0)
        rid = s.sent[0][0]
        s.send([(u, text)])
        end = time.time() + 30
        while s.psql("SELECT state FROM requests WHERE request_id = '%s'" % rid) != ["running"]:
            if time.time() > end:
                raise RuntimeError("the spawn did not start")
            time.sleep(0.1)
        s.peer("kafka", "ctl", s.t, "down", "-1")
        note("broker down while the spawn runs")
        # the worker does not wait for the acknowledgement: its end is
        # recorded, the event pending in the ledger and in the producer
        end = time.time() + 60
        while s.psql("SELECT state, result_pending FROM requests WHERE request_id = '%s'"
                     % rid) != ["succeeded\tt"]:
            if time.time() > end:
                raise RuntimeError("the spawn's end was not recorded with its event pending")
            time.sleep(0.1)
        s.kill_agent()
        note("agent killed before Kafka acknowledged the final event")
        s.peer("kafka", "ctl", s.t, "up", "-1")
        since = s.log_size()
        s.start_agent()
        end = time.time() + 60
        fin = {}
        while time.time() < end:
            fin = s.finals(s.events())
            if rid in fin:
                break
            time.sleep(0.3)
        events = fin.get(rid, [])
        note("final events of %s: %s" % (rid, [e["event"] for e in events]))
        pending = s.psql("SELECT result_pending FROM requests WHERE request_id = '%s'" % rid)
        republished = s.wait_log("reconcile: request %s finished before" % rid, since, 10)
        ok = (len(events) == 1 and events[0]["event"] == "succeeded" and pending == ["f"]
              and republished)
        note("published again by the reconcile: %s; result_pending: %s" % (republished, pending))
    except Exception as e:  # noqa: BLE001 - reported as a failure
        note("ERROR: %s" % e)
    finally:
        if not ok:
            with open(s.log, errors="replace") as f:
                for line in f.readlines()[-40:]:
                    note("  " + line.rstrip())
        s.stop()
    print("outbox %s" % ("ok" if ok else "FAIL"))
    return 0 if ok else 1


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "outbox":
        return outbox()
    if len(sys.argv) not in (2, 3):
        sys.stderr.write("usage: soak.py SEED [REQUESTS] | soak.py outbox\n")
        return 2
    seed = int(sys.argv[1])
    nreq = int(sys.argv[2]) if len(sys.argv) == 3 else 200
    s = Soak(seed, nreq)
    rc = 1
    try:
        s.soak()
        rc = 0 if not s.problems else 1
    except Exception as e:  # noqa: BLE001 - reported, then the peers are stopped
        note("ERROR: %s" % e)
        s.problems.append(("error", str(e)))
    finally:
        if s.problems:
            note("agent log (last 60 lines):")
            with open(s.log, errors="replace") as f:
                for line in f.readlines()[-60:]:
                    note("  " + line.rstrip())
        s.stop()
    print(s.summary(), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
