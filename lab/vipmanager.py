"""vip-manager, the anchor to beat, in the lab (issue 12): Debian's ``vip-manager`` 1.0.2.

vip-manager raises a VIP on its host while a DCS key names the host.  Version 1.0 reads etcd
through the **v2** API only (its binary links ``github.com/coreos/etcd/client`` and asks
``/v2/keys``), and etcd keeps the v2 and v3 key spaces apart; Patroni 3.0's ``etcd3`` module (the
one this lab uses, and the one ``vrrp_dcs`` reads) writes its leader key in v3.  So the lab runs
a :class:`V2Mirror` beside them: it watches the v3 leader key and copies every change into the v2
key space at once (a watch, a few ms), and records when it did, so vip-manager's reaction time is
measured from the moment the key it reads moved, not from the v3 change.  etcd needs
``--enable-v2`` for it (``EtcdCluster(..., enable_v2=True)``).

vip-manager itself runs with its defaults except the VIP's address, interface, key, value and
endpoints: it polls the key every ``interval`` (1000 ms by default).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from pathlib import Path

from lab.etcd import EtcdCluster
from lab.netns import Lab
from lab.pychild import PythonChild

VIP_MANAGER = "/usr/bin/vip-manager"


def vip_manager_missing_reason() -> str | None:
    if not os.access(VIP_MANAGER, os.X_OK):
        return f"{VIP_MANAGER} is missing (apt-get install vip-manager; make sysdeps does it)"
    return None


_MIRROR = """
import base64, json, sys, time, urllib.parse, urllib.request
v3, key = sys.argv[1], sys.argv[2]
b64 = base64.b64encode(key.encode()).decode()
def v2(value):
    url = v3 + "/v2/keys" + urllib.parse.quote(key)
    if value is None:
        req = urllib.request.Request(url, method="DELETE")
    else:
        req = urllib.request.Request(url, data=urllib.parse.urlencode({"value": value}).encode(), method="PUT")
    try:
        urllib.request.urlopen(req, timeout=2).read()
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise
def post(path, body, timeout=None):
    req = urllib.request.Request(v3 + path, data=json.dumps(body).encode(), method="POST")
    return urllib.request.urlopen(req, timeout=timeout)
while True:
    try:
        answer = json.loads(post("/v3/kv/range", {"key": b64}, 2).read())
        kvs, rev = answer.get("kvs", []), answer["header"]["revision"]
        value = base64.b64decode(kvs[0].get("value", "")).decode() if kvs else None
        v2(value)
        print(f"{time.monotonic():.6f} sync {value or ''}", flush=True)
        stream = post("/v3/watch", {"create_request": {"key": b64, "start_revision": int(rev) + 1}})
        for line in stream:
            for ev in json.loads(line).get("result", {}).get("events", []):
                t = time.monotonic()
                value = None if ev.get("type") == "DELETE" else base64.b64decode(ev["kv"].get("value", "")).decode()
                v2(value)
                print(f"{t:.6f} {'delete' if value is None else 'put'} {value or ''} {time.monotonic() - t:.6f}",
                      flush=True)
    except Exception as exc:
        print(f"{time.monotonic():.6f} error {exc!r}", flush=True)
        time.sleep(0.2)
"""


class V2Mirror(PythonChild):
    """Copies the v3 ``key`` into etcd's v2 key space, from ``host``'s namespace, through the
    member ``via``.  ``events`` are (monotonic time the v3 change was seen, 'put' | 'delete' |
    'sync' | 'error', value, seconds the v2 copy took)."""

    def __init__(self, lab: Lab, etcd: EtcdCluster, key: str, *, host: str, via: str) -> None:
        self.events: list[tuple[float, str, str, float]] = []
        self._synced = threading.Event()
        super().__init__(lab, host, _MIRROR, etcd.client_url(via), key)

    def on_line(self, line: str) -> None:
        parts = line.rstrip("\n").split(" ")
        with contextlib.suppress(ValueError, IndexError):
            copy_s = float(parts[3]) if len(parts) > 3 and parts[1] in ("put", "delete") else 0.0
            self.events.append((float(parts[0]), parts[1], parts[2] if len(parts) > 2 else "", copy_s))
            if parts[1] == "sync":
                self._synced.set()

    def wait_synced(self, timeout_s: float = 10) -> bool:
        return self._synced.wait(timeout_s)

    def moved(self, value: str, after: float) -> float | None:
        """When the key was (first, after ``after``) seen naming ``value``."""
        return next((t for t, kind, v, _c in list(self.events) if t >= after and kind == "put" and v == value), None)


class VipManager:
    """One vip-manager on a lab host: ``vip`` on eth0 while the (v2) ``key`` names ``value``."""

    def __init__(self, lab: Lab, host: str, etcd: EtcdCluster, *, key: str, value: str, vip: str,
                 workdir: Path, interval_ms: int | None = None) -> None:  # fmt: skip
        self.host = host
        self.log_path = workdir / f"vip-manager-{host}.log"
        argv = [
            VIP_MANAGER, "--ip", vip, "--netmask", "24", "--interface", "eth0", "--trigger-key", key,
            "--trigger-value", value, "--dcs-type", "etcd", "--dcs-endpoints", ",".join(etcd.endpoints),
        ]  # fmt: skip
        if interval_ms is not None:
            argv += ["--interval", str(interval_ms)]
        with open(self.log_path, "ab") as out:
            self.proc = lab.popen(host, argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM (vip-manager removes its VIP on the way out), then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
