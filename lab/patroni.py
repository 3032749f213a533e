"""A real Patroni cluster over PostgreSQL 15 in the lab, with the etcd of :mod:`lab.etcd`.

Not part of the daemon.  One Patroni member per lab host (its own namespace), PostgreSQL 15
started by Patroni, the DCS the lab's etcd 3.4 through Patroni's ``etcd3`` module (the v3 API,
the one ``vrrp_dcs`` reads).  Debian's ``patroni`` (3.0) provides ``patroni`` and
``patronictl``; it runs with Debian's python3, not the project's venv.

Per host, under one base directory owned by ``postgres``::

    <base>/<HOST>/data          the data directory (Patroni's initdb or pg_basebackup)
    <base>/<HOST>/tmp           TMPDIR for Patroni and PostgreSQL
    <base>/<HOST>/patroni.yml   the member's configuration (also patronictl's)
    <base>/<HOST>/patroni.log   Patroni's and PostgreSQL's output

As in :mod:`lab.pg`: PostgreSQL listens on ``*`` (so it answers on the VIP), no Unix socket,
``trust`` for the lab subnet and loopback only; everything runs as ``postgres`` through
``runuser``.  The leader key is ``/service/<scope>/leader`` and names the member (the host
name), as Patroni writes it; the scope carries the lab's tag so parallel runs never meet.

Timing (Patroni's ``bootstrap.dcs``): ``ttl`` 6 s, ``loop_wait`` 1 s, ``retry_timeout`` 2 s
(Patroni's rule ``loop_wait + 2 x retry_timeout <= ttl``), so a crashed leader's key expires
within 6 s and a leader cut off from etcd demotes itself after ~2 s.

Process ownership: Patroni is a child of the lab (killed with its process group at close).
Patroni starts the postmaster through a helper process that exits (the postmaster runs in a
session of its own), so the postmaster is an orphan from the start.  The cluster makes the
calling process a child subreaper while it lives (as :mod:`lab.pg`), so those postmasters are
re-parented to it, and a thread reaps each one when it exits: Patroni waits for its postmaster's
pid to go away, and a zombie never does.  :meth:`PatroniCluster.close` kills every postmaster
it knows of.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from lab.conf import block, global_defs, vrrp_instance, vrrp_pgsql
from lab.etcd import EtcdCluster
from lab.netns import Lab, LabError
from lab.pg import PG_BIN, PORT, _set_subreaper, _wait_pid_gone, pg_unavailable_reason, postmaster_pid
from lab.pychild import PythonChild

PATRONI = "/usr/bin/patroni"
PATRONICTL = "/usr/bin/patronictl"
REST_PORT = 8008
LOCAL_PG = f"host=127.0.0.1 port={PORT} user=postgres dbname=postgres"
TTL_S = 6
LOOP_WAIT_S = 1
RETRY_TIMEOUT_S = 2


def patroni_missing_reason() -> str | None:
    for tool in (PATRONI, PATRONICTL):
        if not os.access(tool, os.X_OK):
            return f"{tool} is missing (apt-get install patroni; make sysdeps does it)"
    return pg_unavailable_reason()


class PatroniError(LabError):
    pass


def vipkeeper_conf(etcd: EtcdCluster, patroni: PatroniCluster, host: str, vip: str) -> str:
    """vipkeeper beside Patroni, as the README shows it: one instance whose VIP needs both
    ``vrrp_dcs`` in follow mode (the leader key names this host) and ``vrrp_pgsql`` (the local
    PostgreSQL is a writable primary); the seed's unicast pair, priorities 100 (first host) / 99."""
    first, *_ = patroni.members
    me = patroni[host]
    peers = [m for h, m in patroni.members.items() if h != host]
    return (
        global_defs("vrrp_garp_master_delay 1")
        + block(
            "vrrp_dcs leader",
            [
                f"endpoints {' '.join(etcd.endpoints)}",
                f"key {patroni.leader_key}",
                f"value {host}",
                "interval 0.5",
                "timeout 0.5",
            ],
        )  # fmt: skip
        + vrrp_pgsql(
            "chk_pg",
            LOCAL_PG,
            interval="0.2",
            timeout="1",
            rise=1,
            fall=1,
            weight=0,
            peer_conninfo=[f"host={p.addr} port={PORT} user=postgres dbname=postgres" for p in peers],
            data_directory=me.data,
        )  # fmt: skip
        + vrrp_instance(
            "VI_1",
            state="MASTER" if host == first else "BACKUP",
            vrid=51,
            priority=100 if host == first else 99,
            advert_int="1",
            unicast_src=me.addr,
            unicast_peers=[p.addr for p in peers],
            auth_pass="1111",
            extra=["fast_preempt"],
            vips=[vip],
            track_script=["leader", "chk_pg"],
        )
    )


@dataclass
class PatroniMember:
    cluster: PatroniCluster
    host: str
    addr: str
    dir: Path
    proc: subprocess.Popen | None = None

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def tmp(self) -> Path:
        return self.dir / "tmp"

    @property
    def config(self) -> Path:
        return self.dir / "patroni.yml"

    @property
    def log(self) -> Path:
        return self.dir / "patroni.log"

    def postmaster_pid(self) -> int | None:
        return postmaster_pid(self.data)

    @property
    def patroni_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        if self.patroni_running:
            raise PatroniError(f"{self.host}: Patroni is already running")
        with open(self.log, "ab") as out:
            self.proc = self.cluster.lab.popen(
                self.host,
                self.cluster.as_postgres(self, PATRONI, str(self.config)),
                cwd=str(self.dir),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def kill(self) -> None:
        """A crash of the whole member: Patroni and its PostgreSQL SIGKILLed (no key released)."""
        pid = self.postmaster_pid()
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_pid_gone(pid, 10)
        # the postmaster's children die with it (they watch the postmaster's pipe)
        self.cluster.reap_orphans()

    def sql(self, query: str, check: bool = True) -> str:
        proc = self.cluster.lab.run(
            self.host,
            *self.cluster.as_postgres(self, str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-h", "127.0.0.1", "-p",
                                      str(PORT), "-U", "postgres", "-d", "postgres", "-c", query),
            check=False,
            timeout=30,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise PatroniError(f"[{self.host}] {query}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}")
        return proc.stdout.strip()

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class PatroniCluster:
    """Patroni members on ``hosts`` of ``lab`` over ``etcd``; :meth:`start` waits until the first
    host leads and every other host streams from it."""

    def __init__(self, lab: Lab, etcd: EtcdCluster, hosts: tuple[str, ...] = ("A", "B"), *, ttl_s: int = TTL_S,
                 retry_timeout_s: int = RETRY_TIMEOUT_S) -> None:  # fmt: skip
        why = patroni_missing_reason()
        if why:
            raise PatroniError(why)
        self.lab = lab
        self.etcd = etcd
        self.ttl_s, self.retry_timeout_s = ttl_s, retry_timeout_s
        self.scope = f"vk-{lab.tag}"
        self.pw = pwd.getpwnam("postgres")
        self.base = Path(tempfile.mkdtemp(prefix=f"vipkeeper-patroni-{lab.tag}-"))
        os.chown(self.base, self.pw.pw_uid, self.pw.pw_gid)
        self.base.chmod(0o755)
        self._subreaper = _set_subreaper(True)
        self._closed = False
        self._postmasters: set[int] = set()  # every postmaster pid seen (ours once re-parented)
        self._stop_reaper = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="patroni-reaper", daemon=True)
        self.members: dict[str, PatroniMember] = {}
        for h in hosts:
            d = self.base / h
            d.mkdir()
            (d / "tmp").mkdir()
            (d / "patroni.log").touch()
            for p in (d, d / "tmp", d / "patroni.log"):
                os.chown(p, self.pw.pw_uid, self.pw.pw_gid)
            d.chmod(0o700)
            m = PatroniMember(self, h, lab.host(h).ip4 or "", d)
            self.members[h] = m
            m.config.write_text(self._config(m))
            os.chown(m.config, self.pw.pw_uid, self.pw.pw_gid)

    def __getitem__(self, host: str) -> PatroniMember:
        return self.members[host]

    @property
    def leader_key(self) -> str:
        return f"/service/{self.scope}/leader"

    def as_postgres(self, member: PatroniMember, *argv: str) -> list[str]:
        return [
            "runuser", "-u", "postgres", "--", "env", f"TMPDIR={member.tmp}", "LC_ALL=C.UTF-8",
            "PATH=/usr/local/bin:/usr/bin:/bin", f"HOME={member.dir}", *argv,
        ]  # fmt: skip

    def _config(self, m: PatroniMember) -> str:
        # JSON is YAML: no YAML writer needed
        hosts = [f"{self.etcd.ip(h)}:2379" for h in self.etcd.hosts]
        hba = [
            "local all all trust",
            "host all all 127.0.0.1/32 trust",
            "host all all 172.20.0.0/24 trust",
            "host replication all 127.0.0.1/32 trust",
            "host replication all 172.20.0.0/24 trust",
        ]
        params = {
            "unix_socket_directories": "",
            "max_connections": 40,
            "shared_buffers": "16MB",
            "wal_level": "replica",
            "hot_standby": "on",
            "wal_log_hints": "on",
            "max_wal_senders": 10,
            "max_replication_slots": 10,
            "wal_keep_size": "256MB",
            "fsync": "off",
            "synchronous_commit": "off",
            "wal_receiver_status_interval": "1s",
            "wal_retrieve_retry_interval": "500ms",
            "log_line_prefix": "%m [%p] ",
            "log_min_messages": "warning",
        }
        conf = {
            "scope": self.scope,
            "namespace": "/service/",
            "name": m.host,
            "log": {"level": "INFO"},
            "restapi": {"listen": f"{m.addr}:{REST_PORT}", "connect_address": f"{m.addr}:{REST_PORT}"},
            "etcd3": {"hosts": hosts},
            "watchdog": {"mode": "off"},
            "bootstrap": {
                "dcs": {
                    "ttl": self.ttl_s,
                    "loop_wait": LOOP_WAIT_S,
                    "retry_timeout": self.retry_timeout_s,
                    "maximum_lag_on_failover": 1048576,
                    "postgresql": {"use_pg_rewind": True, "use_slots": False, "parameters": params},
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
                "pg_hba": hba,
            },
            "postgresql": {
                "listen": f"*:{PORT}",
                "connect_address": f"{m.addr}:{PORT}",
                "data_dir": str(m.data),
                "bin_dir": str(PG_BIN),
                "pgpass": str(m.tmp / "pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": "lab"},
                    "replication": {"username": "postgres", "password": "lab"},
                    "rewind": {"username": "postgres", "password": "lab"},
                },
                "parameters": params,
                "pg_hba": hba,
            },
        }
        return json.dumps(conf, indent=1) + "\n"

    # ------------------------------------------------------------ observing

    def leader(self) -> str | None:
        """The member the leader key names (a linearizable read through etcdctl)."""
        try:
            return self.etcd.get(self.leader_key)
        except LabError:
            return None

    def patronictl(self, *args: str, host: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        where = host or next(iter(self.members))
        m = self.members[where]
        return self.lab.run(where, PATRONICTL, "-c", str(m.config), *args, check=False, timeout=timeout)

    def role(self, host: str) -> str | None:
        """'primary' / 'replica' from Patroni's REST API (None if it does not answer); Patroni 3.0
        says 'master' for the primary."""
        m = self.members[host]
        proc = self.lab.run(
            host, "/usr/bin/python3", "-c",
            "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())",
            f"http://{m.addr}:{REST_PORT}/patroni", check=False, timeout=10,
        )  # fmt: skip
        try:
            role = str(json.loads(proc.stdout)["role"])
            return "primary" if role == "master" else role
        except (ValueError, KeyError):
            return None

    def streaming(self, host: str) -> bool:
        out = self.members[host].sql("SELECT status FROM pg_stat_wal_receiver", check=False)
        return out == "streaming"

    # ------------------------------------------------------------ life

    def start(self, timeout_s: float = 120) -> PatroniCluster:
        hosts = list(self.members)
        first = hosts[0]
        if not self._reaper.is_alive():
            self._reaper.start()
        self.members[first].start()
        if not Lab.wait_for(lambda: self.leader() == first and self.role(first) == "primary", timeout_s, 0.2):
            raise PatroniError(f"{first} did not become the Patroni leader:\n{self.logs()}")
        for h in hosts[1:]:
            self.members[h].start()
        for h in hosts[1:]:
            if not Lab.wait_for(lambda h=h: self.streaming(h), timeout_s, 0.2):
                raise PatroniError(f"{h} does not stream from {first}:\n{self.logs()}")
        return self

    def switchover(self, leader: str, candidate: str) -> subprocess.CompletedProcess:
        proc = self.patronictl("switchover", "--leader", leader, "--candidate", candidate, "--force", self.scope)
        if proc.returncode != 0:
            raise PatroniError(f"switchover {leader} -> {candidate}: {proc.stdout}{proc.stderr}\n{self.logs()}")
        return proc

    def wait_healthy(self, leader: str, timeout_s: float = 60) -> bool:
        """``leader`` leads (key and role) and every other member streams from it."""
        others = [h for h in self.members if h != leader]
        return Lab.wait_for(
            lambda: (
                self.leader() == leader
                and self.role(leader) == "primary"
                and all(self.members[h].patroni_running and self.streaming(h) for h in others)
            ),
            timeout_s,
            0.2,
        )

    def logs(self) -> str:
        return "\n".join(f"----- patroni {h} -----\n{m.log_tail()}" for h, m in self.members.items())

    def reap_orphans(self) -> None:
        """Reap the postmasters re-parented to us that exited (only those: never another
        child, which its own Popen object waits for)."""
        for m in self.members.values():
            pid = m.postmaster_pid()
            if pid is not None:
                self._postmasters.add(pid)
        for pid in list(self._postmasters):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not (yet) our child, or already gone
                if not Path(f"/proc/{pid}").exists():
                    self._postmasters.discard(pid)
                continue
            if done == pid:
                self._postmasters.discard(pid)

    def _reap_loop(self) -> None:
        while not self._stop_reaper.wait(0.05):
            self.reap_orphans()

    def close(self) -> None:
        """Kill every Patroni and postmaster, reap, remove the files. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.reap_orphans()  # note the live postmasters
        for m in self.members.values():
            with contextlib.suppress(Exception):
                m.kill()
        for pid in list(self._postmasters):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._postmasters:
            self.reap_orphans()
            time.sleep(0.05)
        self._stop_reaper.set()
        if self._reaper.is_alive():
            self._reaper.join(5)
        if self._subreaper:
            _set_subreaper(False)
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PatroniCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_PROBE = """
import sys, time
import psycopg
conninfo, interval_s = sys.argv[1], float(sys.argv[2])
conn = None
while True:
    t = time.monotonic()
    try:
        if conn is None:
            conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=1)
            t = time.monotonic()
        row = conn.execute("SELECT pg_is_in_recovery() OR current_setting('transaction_read_only')::bool").fetchone()
        state = "readonly" if row and row[0] else "writable"
    except Exception:
        state = "down"
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass
        conn = None
    print(f"{t:.6f} {state}", flush=True)
    time.sleep(interval_s)
"""


class WritableProbe(PythonChild):
    """Asks a host's PostgreSQL every ``interval_s`` whether it is writable, from inside the host's
    namespace (a psycopg loop in a child process): ``records`` are (monotonic time the question was
    sent, 'writable' | 'readonly' | 'down').  CLOCK_MONOTONIC is the same in every namespace, so the
    times compare with a :class:`HolderSampler`'s."""

    def __init__(self, lab: Lab, host: str, conninfo: str, interval_s: float = 0.01) -> None:
        self.records: list[tuple[float, str]] = []
        super().__init__(lab, host, _PROBE, conninfo, str(interval_s))

    def on_line(self, line: str) -> None:
        t, _, state = line.strip().partition(" ")
        with contextlib.suppress(ValueError):
            self.records.append((float(t), state))

    def first(self, state: str, after: float) -> float | None:
        return next((t for t, s in list(self.records) if t >= after and s == state), None)
