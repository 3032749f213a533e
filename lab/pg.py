"""A real PostgreSQL 15 + repmgr cluster inside a namespace lab (tests, demo, bench).

Not part of the daemon.  One :class:`PgCluster` per :class:`lab.netns.Lab`:
the first host is initialised as the primary, every other host is cloned from
it with ``repmgr standby clone`` and registered as a streaming standby.

Per host, under one base directory owned by ``postgres``::

    <base>/<HOST>/data          the data directory (checksums on: pg_rewind works)
    <base>/<HOST>/tmp           TMPDIR for postgres and repmgr (and repmgr's config archive)
    <base>/<HOST>/repmgr.conf   node_id, conninfo on the host's lab address
    <base>/<HOST>/postgres.log

Every server listens on ``*`` inside its own namespace (127.0.0.1, the lab
address, and the VIP when the host holds it), port 5432, with no Unix socket
(``unix_socket_directories = ''``): the filesystem is shared between the
namespaces, TCP is not.  So the configuration files are the same on every host,
and ``pg_basebackup``/``pg_rewind`` may copy them freely.  Authentication is
``trust`` for the lab subnet and loopback only.

``repmgr standby switchover`` runs remote commands through ``ssh``: with no sshd
on this machine, :meth:`PgCluster.start_ssh` runs a stand-in (:mod:`lab.pg_rsh`) on
every host and puts its client first on the postgres user's PATH as ``ssh``.

Process ownership: servers this module starts are ``postgres -D`` children of
the calling process (through ``ip netns exec`` and ``runuser``).  ``repmgr node
rejoin`` starts its server with ``pg_ctl``, whose postmaster is orphaned when
pg_ctl exits; the cluster makes the calling process a child subreaper
(``PR_SET_CHILD_SUBREAPER``) while it lives, so those postmasters are
re-parented to it and reaped by :meth:`PgNode.stop` (this machine has no init
that reaps).  :meth:`PgCluster.close` stops every server (immediate) and waits.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab.conf import vrrp_instance, vrrp_pgsql
from lab.netns import Lab, LabError
from lab.seed import seed_script_conf

PG_BIN = Path(os.environ.get("VIPKEEPER_PG_BIN", "/usr/lib/postgresql/15/bin"))
PORT = 5432
RSH_PORT = 2222
VIP = "172.20.0.115"
SEED_VIP = "172.20.0.116"

_PR_SET_CHILD_SUBREAPER = 36
_STOP_SIGNAL = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


class PgLabError(LabError):
    pass


def pg_unavailable_reason() -> str | None:
    """None if this machine can build the cluster, else why not."""
    for tool in ("postgres", "initdb", "repmgr", "pg_rewind", "psql", "pg_basebackup"):
        if not (PG_BIN / tool).exists():
            return f"{PG_BIN / tool} is missing (postgresql-15, postgresql-15-repmgr)"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no 'postgres' user"
    if shutil.which("runuser") is None:
        return "runuser is missing"
    return None


def _set_subreaper(on: bool) -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) == 0


def _pid_alive(pid: int) -> bool:
    """Running (not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _wait_pid_gone(pid: int, timeout_s: float) -> bool:
    """Wait for ``pid`` to exit, reaping it if it is (or became) our child."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return True
        except ChildProcessError:
            if not _pid_alive(pid):
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def postmaster_pid(data: Path) -> int | None:
    """The pid in ``data``/postmaster.pid, if that process runs (not a zombie)."""
    try:
        pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


@dataclass
class PgNode:
    cluster: PgCluster
    host: str
    node_id: int
    addr: str
    dir: Path
    proc: subprocess.Popen | None = None  # a postgres we started (via runuser)
    adopted: set[int] = field(default_factory=set)  # postmasters started by repmgr/pg_ctl

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def tmp(self) -> Path:
        return self.dir / "tmp"

    @property
    def log(self) -> Path:
        return self.dir / "postgres.log"

    @property
    def repmgr_conf(self) -> Path:
        return self.dir / "repmgr.conf"

    @property
    def conninfo(self) -> str:
        return f"host={self.addr} port={PORT} user=postgres dbname=repmgr connect_timeout=2"

    # ------------------------------------------------------------ processes

    def postmaster_pid(self) -> int | None:
        return postmaster_pid(self.data)

    def pid_status(self) -> str:
        """Line 8 of postmaster.pid: 'starting', 'ready', 'standby', 'stopping'."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except OSError:
            return ""
        return lines[7].strip() if len(lines) > 7 else ""

    @property
    def running(self) -> bool:
        return self.postmaster_pid() is not None

    def start(self, timeout_s: float = 60) -> None:
        """Start ``postgres -D`` as our child; wait until it accepts connections."""
        if self.running:
            raise PgLabError(f"{self.host}: PostgreSQL is already running")
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        logf = open(self.log, "ab")
        try:
            self.proc = self.cluster.lab.popen(
                self.host,
                self.cluster.as_postgres(self, str(PG_BIN / "postgres"), "-D", str(self.data)),
                cwd=str(self.dir),
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            logf.close()
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float = 60) -> None:
        ok = Lab.wait_for(lambda: self.pid_status() in ("ready", "standby"), timeout_s, 0.02)
        if not ok:
            raise PgLabError(f"{self.host}: PostgreSQL did not become ready:\n{self.log_tail()}")
        pid = self.postmaster_pid()
        if pid is not None and (self.proc is None or pid not in _children(self.proc.pid)):
            self.adopted.add(pid)

    def stop(self, mode: str = "fast", timeout_s: float = 60) -> None:
        """Stop the server (smart/fast/immediate) and reap it."""
        pid = self.postmaster_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, _STOP_SIGNAL[mode])
            if not _wait_pid_gone(pid, timeout_s):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                _wait_pid_gone(pid, 10)
        self._reap()

    def _reap(self) -> None:
        if self.proc is not None and self.proc.poll() is None and not _children(self.proc.pid):
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        for pid in list(self.adopted):
            if _wait_pid_gone(pid, 0):
                self.adopted.discard(pid)

    def server_pids(self) -> list[int]:
        pid = self.postmaster_pid()
        return [pid, *_children(pid)] if pid else []

    def freeze(self) -> list[int]:
        """SIGSTOP the postmaster and every server process: a hung server."""
        pids = self.server_pids()
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGSTOP)
        return pids

    def thaw(self, pids: list[int] | None = None) -> None:
        for p in pids if pids is not None else self.server_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGCONT)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    # ------------------------------------------------------------ commands

    def run(self, *argv: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run a PostgreSQL tool as postgres in this host's namespace."""
        return self.cluster.run(self, *argv, check=check, timeout=timeout)

    def repmgr(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return self.run(str(PG_BIN / "repmgr"), "-f", str(self.repmgr_conf), *args, check=check, timeout=timeout)

    def sql(self, query: str, dbname: str = "postgres", check: bool = True) -> str:
        proc = self.run(
            str(PG_BIN / "psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-h",
            "127.0.0.1",
            "-p",
            str(PORT),
            "-U",
            "postgres",
            "-d",
            dbname,
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            query,
            check=check,
            timeout=30,
        )
        return proc.stdout.strip()

    def timeline(self) -> int | None:
        """The timeline the server writes on (primary) or receives/replays (standby)."""
        out = self.sql(
            "SELECT CASE WHEN pg_is_in_recovery() THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver),"
            " (SELECT timeline_id FROM pg_control_checkpoint()))"
            " ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END",
            check=False,
        )
        return int(out) if out.isdigit() else None

    def in_recovery(self) -> bool | None:
        out = self.sql("SELECT pg_is_in_recovery()", check=False)
        return {"t": True, "f": False}.get(out)


class PgCluster:
    """A primary and streaming standbys made with repmgr, one per lab host."""

    def __init__(self, lab: Lab, hosts: tuple[str, ...] = ("A", "B"), base: Path | None = None) -> None:
        why = pg_unavailable_reason()
        if why:
            raise PgLabError(why)
        self.lab = lab
        self.pw = pwd.getpwnam("postgres")
        self.base = Path(base) if base else Path(tempfile.mkdtemp(prefix=f"vipkeeper-pg-{lab.tag}-"))
        self.base.mkdir(parents=True, exist_ok=True)
        os.chown(self.base, self.pw.pw_uid, self.pw.pw_gid)
        self.base.chmod(0o755)
        self._subreaper = _set_subreaper(True)
        # ssh for repmgr (see lab.pg_rsh): the shim on postgres's PATH, a token only postgres reads
        self.bin = self.base / "bin"
        self.bin.mkdir()
        shutil.copy(Path(__file__).with_name("pg_rsh.py"), self.bin / "ssh")
        (self.bin / "ssh").chmod(0o755)
        self.rsh_token = self.base / "rsh.token"
        self.rsh_token.write_text(secrets.token_hex(16))
        os.chown(self.rsh_token, self.pw.pw_uid, self.pw.pw_gid)
        self.rsh_token.chmod(0o600)
        self._rsh: list[subprocess.Popen] = []
        self.nodes: dict[str, PgNode] = {}
        for i, h in enumerate(hosts, start=1):
            d = self.base / h
            d.mkdir()
            (d / "tmp").mkdir()
            for p in (d, d / "tmp"):
                os.chown(p, self.pw.pw_uid, self.pw.pw_gid)
                p.chmod(0o700)
            (d / "postgres.log").touch()
            os.chown(d / "postgres.log", self.pw.pw_uid, self.pw.pw_gid)
            node = PgNode(self, h, i, lab.host(h).ip4 or "", d)
            self.nodes[h] = node
            self._write_repmgr_conf(node)
        self._closed = False

    def __getitem__(self, host: str) -> PgNode:
        return self.nodes[host]

    # ------------------------------------------------------------ running tools

    def as_postgres(self, node: PgNode, *argv: str) -> list[str]:
        return [
            "runuser",
            "-u",
            "postgres",
            "--",
            "env",
            f"TMPDIR={node.tmp}",
            "PGCONNECT_TIMEOUT=2",
            "LC_ALL=C.UTF-8",
            f"PATH={self.bin}:/usr/local/bin:/usr/bin:/bin",
            f"VIPKEEPER_RSH_TOKEN={self.rsh_token}",
            f"VIPKEEPER_RSH_PORT={RSH_PORT}",
            *argv,
        ]

    def run(self, node: PgNode, *argv: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = ["ip", "netns", "exec", self.lab.ns(node.host), *self.as_postgres(node, *argv)]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=str(node.dir), stdin=subprocess.DEVNULL
        )
        if check and proc.returncode != 0:
            raise PgLabError(f"[{node.host}] {' '.join(argv)}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}")
        return proc

    # ------------------------------------------------------------ building

    def _write_repmgr_conf(self, node: PgNode) -> None:
        ctl = f"{PG_BIN}/pg_ctl -w -t 60 -D {node.data} -l {node.log}"
        text = f"""node_id={node.node_id}
node_name='{node.host}'
conninfo='{node.conninfo}'
data_directory='{node.data}'
pg_bindir='{PG_BIN}'
use_replication_slots=no
failover=manual
log_level=INFO
promote_check_timeout=60
promote_check_interval=1
standby_reconnect_timeout=60
node_rejoin_timeout=60
service_start_command='{ctl} start'
service_stop_command='{ctl} -m fast stop'
service_restart_command='{ctl} -m fast restart'
service_promote_command='{PG_BIN}/pg_ctl -w -D {node.data} promote'
"""
        node.repmgr_conf.write_text(text)
        os.chown(node.repmgr_conf, self.pw.pw_uid, self.pw.pw_gid)

    def build(self) -> PgCluster:
        """initdb + register the primary (first host); clone + register the standbys."""
        hosts = list(self.nodes)
        primary = self.nodes[hosts[0]]
        primary.run(
            str(PG_BIN / "initdb"),
            "-D",
            str(primary.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--data-checksums",
            "--no-sync",
            "--no-instructions",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        with open(primary.data / "postgresql.conf", "a") as f:
            f.write(POSTGRESQL_CONF)
        (primary.data / "pg_hba.conf").write_text(PG_HBA)
        primary.start()
        primary.sql("CREATE DATABASE repmgr")
        primary.repmgr("primary", "register")
        for h in hosts[1:]:
            self.clone(self.nodes[h], primary)
        return self

    def clone(self, node: PgNode, upstream: PgNode) -> None:
        node.repmgr(
            "-h",
            upstream.addr,
            "-p",
            str(PORT),
            "-U",
            "postgres",
            "-d",
            "repmgr",
            "standby",
            "clone",
            "--fast-checkpoint",
        )
        node.start()
        node.repmgr("standby", "register", "--force")

    # ------------------------------------------------------------ operations

    def promote(self, host: str) -> subprocess.CompletedProcess:
        """``repmgr standby promote`` on ``host`` (waits until the promotion is done)."""
        return self.nodes[host].repmgr("standby", "promote", "--verbose")

    def rejoin(self, host: str, upstream: str, *, force_rewind: bool = True) -> subprocess.CompletedProcess:
        """``repmgr node rejoin`` of a stopped ``host`` as a standby of ``upstream``.

        repmgr starts the server with pg_ctl: the orphaned postmaster is adopted
        (this process is a subreaper) and reaped by :meth:`PgNode.stop`."""
        node, up = self.nodes[host], self.nodes[upstream]
        # pg_rewind reads the source's timeline from its pg_control, which a
        # fresh promotion updates only at the next checkpoint: without this,
        # pg_rewind says "same timeline, no rewind required" and the rejoined
        # node then loops on "new timeline 2 forked off ... before current
        # recovery point".
        up.sql("CHECKPOINT")
        args = ["node", "rejoin", "-d", up.conninfo, "--config-archive-dir", str(node.tmp), "--verbose"]
        if force_rewind:
            args.append("--force-rewind")
        proc = node.repmgr(*args)
        node.wait_ready()
        return proc

    def start_ssh(self) -> None:
        """The ssh stand-in's command server on every host (idempotent); see lab.pg_rsh."""
        if self._rsh:
            return
        for node in self.nodes.values():
            proc = self.lab.popen(
                node.host,
                self.as_postgres(node, "/usr/bin/python3", str(self.bin / "ssh"), "--serve", node.addr),
                cwd=str(node.dir),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
            )
            self._rsh.append(proc)
            line = proc.stdout.readline() if proc.stdout else ""
            if not line.startswith("ready"):
                raise PgLabError(f"{node.host}: ssh stand-in did not start: {line}")

    def switchover(self, new_primary: str) -> subprocess.CompletedProcess:
        """``repmgr standby switchover`` run on the standby ``new_primary``: repmgr
        stops the primary over "ssh", promotes, and rejoins the old primary."""
        self.start_ssh()
        new = self.nodes[new_primary]
        old = next(n for n in self.nodes.values() if n is not new and n.in_recovery() is False)
        proc = new.repmgr("standby", "switchover", "--verbose", timeout=180)
        old.wait_ready()
        return proc

    def wait_streaming(self, standby: str, timeout_s: float = 30) -> bool:
        node = self.nodes[standby]
        return Lab.wait_for(
            lambda: node.sql("SELECT status FROM pg_stat_wal_receiver", check=False) == "streaming", timeout_s, 0.1
        )

    # ------------------------------------------------------------ teardown

    def close(self) -> None:
        """Stop every server (immediate), reap, remove the files. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for node in self.nodes.values():
            with contextlib.suppress(Exception):
                node.thaw()
            with contextlib.suppress(Exception):
                node.stop("immediate", timeout_s=20)
        self._reap_orphans()
        if self._subreaper:
            _set_subreaper(False)
        shutil.rmtree(self.base, ignore_errors=True)

    def _reap_orphans(self) -> None:
        """Reap children that exited and that no Popen object owns (orphans we adopted)."""
        owned = {p.pid for p in self.lab._procs if p.returncode is None}
        for _ in range(1000):
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid in owned:
                return
            with contextlib.suppress(ChildProcessError):
                os.waitpid(info.si_pid, 0)

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


POSTGRESQL_CONF = """
# --- vipkeeper lab (the same on every host; see lab.pg) ---
listen_addresses = '*'
port = 5432
unix_socket_directories = ''
max_connections = 40
shared_buffers = 16MB
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = 256MB
hot_standby = on
wal_log_hints = on
full_page_writes = on
fsync = off
synchronous_commit = off
wal_receiver_status_interval = 1s
wal_retrieve_retry_interval = 500ms
logging_collector = off
log_line_prefix = '%m [%p] '
log_min_messages = warning
"""

PG_HBA = """# vipkeeper lab: trust on loopback and the private lab subnet only
local   all             all                             trust
host    all             all             127.0.0.1/32    trust
host    all             all             172.20.0.0/24   trust
local   replication     all                             trust
host    replication     all             127.0.0.1/32    trust
host    replication     all             172.20.0.0/24   trust
"""


# ---------------------------------------------------------------- daemon configs


PG_PRIORITY = {"A": 250, "B": 240}
SEED_PRIORITY = {"A": ("MASTER", 100), "B": ("BACKUP", 99)}


def vipkeeper_conf(
    cluster: PgCluster,
    host: str,
    *,
    with_seed: bool = False,
    pg_priority: int | None = None,
    interval: str = "0.2",
    timeout: str = "1",
    fall: int = 2,
) -> str:
    """vipkeeper.conf for ``host``: VI_PG (vrid 51, VIP .115) tracks ``vrrp_pgsql
    chk_pg`` with fast_preempt; with ``with_seed``, VI_SEED (vrid 52, VIP .116)
    runs the seed's script and settings (priority 100/99, weight 4) beside it."""
    node = cluster[host]
    others = [n for h, n in cluster.nodes.items() if h != host]
    peer = others[0].addr
    prio = pg_priority if pg_priority is not None else PG_PRIORITY.get(host, 200)
    common = dict(interface="eth0", advert_int="1", unicast_src=node.addr, unicast_peers=[peer], auth_pass="1111")
    text = vrrp_pgsql(
        "chk_pg",
        f"host=127.0.0.1 port={PORT} user=postgres dbname=postgres",
        interval=interval,
        timeout=timeout,
        rise=1,
        fall=fall,
        weight=0,
        peer_conninfo=[f"host={p.addr} port={PORT} user=postgres dbname=postgres" for p in others],
        data_directory=node.data,
    )
    text += vrrp_instance(
        "VI_PG",
        state="BACKUP",
        vrid=51,
        priority=prio,
        extra=["fast_preempt"],
        vips=[VIP],
        track_script=["chk_pg"],
        **common,
    )
    if with_seed:
        state, sprio = SEED_PRIORITY.get(host, ("BACKUP", 98))
        text += seed_script_conf()
        text += vrrp_instance(
            "VI_SEED", state=state, vrid=52, priority=sprio, vips=[SEED_VIP], track_script=["chk_haproxy"], **common
        )
    return text
