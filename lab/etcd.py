"""A real etcd cluster in the lab: one member per lab host (its own namespace), for the
``vrrp_dcs`` tests.

Each member listens only on its host's lab address (client 2379, peer 2380), keeps its data
in a directory of its own under a temporary directory, and carries the lab's tag in its name
and in the cluster token, so parallel runs never meet.  The processes are the lab's: the lab
kills them at close even when a test fails; :meth:`EtcdCluster.close` also removes the data.

Debian's ``etcd-server`` (3.4) and ``etcd-client`` (etcdctl) provide the binaries.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lab.netns import Lab, LabError
from lab.pychild import PythonChild

ETCD = "/usr/bin/etcd"
ETCDCTL = "/usr/bin/etcdctl"
CLIENT_PORT = 2379
PEER_PORT = 2380


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the CA that signed the server certificate
    cert: Path
    key: Path


def make_tls(directory: Path, ips: Sequence[str], name: str = "vk-lab") -> TlsFiles:
    """A fresh CA and a server certificate for ``ips`` (IP subjectAltNames), with openssl(1),
    under ``directory`` (EC P-256, valid 2 days)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr = directory / "server.pem", directory / "server.key", directory / "server.csr"
    ext = directory / "server.ext"
    ext.write_text("subjectAltName=" + ",".join(f"IP:{ip}" for ip in ips) + "\nextendedKeyUsage=serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for argv in (
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", f"/CN={name}-ca"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={name}-etcd"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2",
         "-extfile", ext],
    ):  # fmt: skip
        subprocess.run(["openssl", *map(str, argv)], check=True, capture_output=True, timeout=30)
    return TlsFiles(ca, cert, key)


def etcd_missing_reason() -> str | None:
    for tool in (ETCD, ETCDCTL):
        if not os.access(tool, os.X_OK):
            return f"{tool} is missing (apt-get install etcd-server etcd-client; make sysdeps does it)"
    return None


class EtcdCluster:
    """Members on ``hosts`` of ``lab``; :meth:`start` waits until the cluster has a leader."""

    def __init__(self, lab: Lab, hosts: Sequence[str], *, enable_v2: bool = False, tls: TlsFiles | None = None) -> None:
        self.lab = lab
        self.enable_v2 = enable_v2  # the v2 API too (vip-manager 1.0 reads only v2; lab.vipmanager)
        self.tls = tls  # clients over https with this server certificate (peers stay on http)
        self.user: str | None = None  # "name:password" for etcdctl once auth is enabled
        self.hosts = list(hosts)
        self.tag = lab.tag
        self.token = f"vk-etcd-{lab.tag}-{os.getpid()}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"vipkeeper-etcd-{lab.tag}-"))
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, Path] = {}

    def ip(self, host: str) -> str:
        ip4 = self.lab.host(host).ip4
        assert ip4 is not None
        return ip4

    def member_name(self, host: str) -> str:
        return f"{host.lower()}-{self.tag}"

    def client_url(self, host: str) -> str:
        return f"{'https' if self.tls else 'http'}://{self.ip(host)}:{CLIENT_PORT}"

    @property
    def endpoints(self) -> list[str]:
        return [self.client_url(h) for h in self.hosts]

    def _argv(self, host: str) -> list[str]:
        ip = self.ip(host)
        initial = ",".join(f"{self.member_name(h)}=http://{self.ip(h)}:{PEER_PORT}" for h in self.hosts)
        return [
            ETCD,
            "--name", self.member_name(host),
            "--data-dir", str(self.dir / host),
            "--listen-client-urls", self.client_url(host),
            "--advertise-client-urls", self.client_url(host),
            "--listen-peer-urls", f"http://{ip}:{PEER_PORT}",
            "--initial-advertise-peer-urls", f"http://{ip}:{PEER_PORT}",
            "--initial-cluster", initial,
            "--initial-cluster-token", self.token,
            "--initial-cluster-state", "new",
            # a lab on one bridge: short heartbeats so elections take well under a second
            "--heartbeat-interval", "50",
            "--election-timeout", "500",
            "--logger", "zap",
            "--log-level", "warn",
            *(["--enable-v2=true"] if self.enable_v2 else []),
            *(["--cert-file", str(self.tls.cert), "--key-file", str(self.tls.key)] if self.tls else []),
        ]  # fmt: skip

    def start_member(self, host: str) -> None:
        log = self.dir / f"{host}.log"
        self._logs[host] = log
        with open(log, "ab") as out:
            self.procs[host] = self.lab.popen(host, self._argv(host), stdout=out, stderr=subprocess.STDOUT)

    def start(self, timeout_s: float = 30.0) -> EtcdCluster:
        for h in self.hosts:
            self.start_member(h)
        if not self.wait_healthy(timeout_s):
            raise LabError(f"etcd cluster {self.token} did not become healthy:\n{self.logs()}")
        return self

    def stop_member(self, host: str) -> None:
        proc = self.procs.pop(host, None)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        for h in list(self.procs):
            self.stop_member(h)

    def restart_all(self, timeout_s: float = 30.0) -> None:
        """Start the stopped members again (their data kept: ``--initial-cluster-state`` is
        ignored for a member that has data)."""
        for h in self.hosts:
            if h not in self.procs:
                self.start_member(h)
        if not self.wait_healthy(timeout_s):
            raise LabError(f"etcd cluster {self.token} did not come back:\n{self.logs()}")

    def etcdctl(self, *args: str, host: str | None = None, check: bool = True,
                timeout: float = 10) -> subprocess.CompletedProcess:  # fmt: skip
        """Run etcdctl from a member's namespace (every member's endpoint given)."""
        where = host or next(iter(self.procs), self.hosts[0])
        argv = [ETCDCTL, "--endpoints", ",".join(self.endpoints), "--command-timeout=3s"]
        if self.tls:
            argv += ["--cacert", str(self.tls.ca)]
        if self.user:
            argv += ["--user", self.user]
        argv += args
        return self.lab.run(where, *argv, check=check, timeout=timeout)

    def wait_healthy(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            alive = [h for h, p in self.procs.items() if p.poll() is None]
            if alive:
                r = self.etcdctl("endpoint", "health", "--cluster", host=alive[0], check=False)
                if r.returncode == 0 and (r.stdout + r.stderr).count("is healthy") >= len(self.hosts):
                    return True
            time.sleep(0.2)
        return False

    def put(self, key: str, value: str, *extra: str) -> None:
        self.etcdctl("put", key, value, *extra)

    def get(self, key: str) -> str | None:
        out = self.etcdctl("get", "--print-value-only", key).stdout
        return out[:-1] if out.endswith("\n") else (out or None)

    def logs(self) -> str:
        return "\n".join(
            f"----- etcd {h} -----\n" + "\n".join(p.read_text(errors="replace").splitlines()[-30:])
            for h, p in self._logs.items()
            if p.exists()
        )

    def close(self) -> None:
        self.stop_all()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> EtcdCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_SLOW_PROXY = """
import asyncio, sys, time
listen_host, up_host, delay_file = sys.argv[1], sys.argv[3], sys.argv[5]
listen_port, up_port = int(sys.argv[2]), int(sys.argv[4])
def delay_s():
    try:
        return float(open(delay_file).read() or 0)
    except (OSError, ValueError):
        return 0.0
async def pump(reader, writer):
    queue = asyncio.Queue()
    async def send():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            writer.write(data)
            await writer.drain()
        writer.close()
    sender = asyncio.ensure_future(send())
    try:
        while True:
            data = await reader.read(65536)
            queue.put_nowait((time.monotonic() + delay_s(), data or None))
            if not data:
                break
        await sender
    except (OSError, asyncio.CancelledError):
        sender.cancel()
        writer.close()
async def handle(client_r, client_w):
    try:
        up_r, up_w = await asyncio.open_connection(up_host, up_port)
    except OSError:
        client_w.close()
        return
    await asyncio.gather(pump(client_r, up_w), pump(up_r, client_w), return_exceptions=True)
async def main():
    server = await asyncio.start_server(handle, listen_host, listen_port)
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


class SlowProxy(PythonChild):
    """etcd answering slowly (this machine has no ``sch_netem``): a TCP proxy in front of each
    member's client port, on port ``port`` of the member's address, that delays every chunk in
    each direction by the seconds written in :attr:`delay_file` (read for every chunk, so
    :meth:`set_delay` takes effect at once, also on open connections).  Plain http only."""

    def __init__(self, etcd: EtcdCluster, host: str, port: int = 2479) -> None:
        self.delay_file = etcd.dir / f"delay-{host}"
        self.delay_file.write_text("0")
        self.url = f"http://{etcd.ip(host)}:{port}"
        self._ready = threading.Event()
        super().__init__(etcd.lab, host, _SLOW_PROXY, etcd.ip(host), str(port), etcd.ip(host), str(CLIENT_PORT),
                         str(self.delay_file))  # fmt: skip
        if not self._ready.wait(10):
            self.stop()
            raise LabError(f"slow proxy on {host} did not start")

    def on_line(self, line: str) -> None:
        if line.startswith("ready"):
            self._ready.set()

    def set_delay(self, seconds: float) -> None:
        tmp = self.delay_file.with_suffix(".new")
        tmp.write_text(str(seconds))
        tmp.replace(self.delay_file)
