"""A real Prometheus server in a lab's observer namespace (tests; not part of the daemon).

The observer reaches every host over a management network of its own, one veth
pair per host (:func:`add_mgmt_network`), so partitioning the hosts' VRRP segment
(:meth:`lab.netns.Lab.detach`) does not stop the scrapes, as in a real site
where monitoring runs on another network.  Prometheus listens on the observer's
loopback only; :class:`Prometheus` queries its HTTP API from inside the observer
namespace (``ip netns exec ... python3``), nothing leaves the lab.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lab.netns import OBSERVER, Lab, LabError

log = logging.getLogger(__name__)

API_PORT = 9090
METRICS_PORT = 9650
MGMT_NET = "10.250"  # 10.250.<n>.1 (observer) <-> 10.250.<n>.2 (host), one /30 per host


def add_mgmt_network(lab: Lab) -> dict[str, str]:
    """A veth from the observer to every host (``mgmt`` on the host): host name -> its address."""
    obs = lab.ns(OBSERVER)
    out: dict[str, str] = {}
    for n, host in enumerate(lab.hosts, start=1):
        ns = lab.ns(host)
        here, there = f"{MGMT_NET}.{n}.1", f"{MGMT_NET}.{n}.2"
        for argv in (
            ["ip", "-n", obs, "link", "add", f"m{host}", "type", "veth", "peer", "name", "mgmt", "netns", ns],
            ["ip", "-n", obs, "addr", "add", f"{here}/30", "dev", f"m{host}"],
            ["ip", "-n", ns, "addr", "add", f"{there}/30", "dev", "mgmt"],
            ["ip", "-n", obs, "link", "set", f"m{host}", "up"],
            ["ip", "-n", ns, "link", "set", "mgmt", "up"],
        ):
            r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                raise LabError(f"{' '.join(argv)}: {r.stderr.strip()}")
        out[host] = there
    return out


def prometheus_binary() -> str | None:
    return shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)


_QUERY = """
import json, sys, urllib.parse, urllib.request
path, params = sys.argv[1], json.loads(sys.argv[2])
url = "http://127.0.0.1:%s" % sys.argv[3] + path + ("?" + urllib.parse.urlencode(params) if params else "")
try:
    with urllib.request.urlopen(url, timeout=10) as r:
        sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    sys.stdout.write(e.read().decode())
"""


class Prometheus:
    """``prometheus`` scraping ``targets`` every second with ``rule_files``, evaluated every second."""

    def __init__(self, lab: Lab, workdir: Path, targets: Iterable[str], rule_files: Iterable[Path] = (),
                 *, job: str = "vipkeeper", interval_s: int = 1) -> None:  # fmt: skip
        binary = prometheus_binary()
        if binary is None:
            raise LabError("prometheus is not installed (Debian package prometheus)")
        self.lab = lab
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "prometheus.log"
        config = {
            "global": {"scrape_interval": f"{interval_s}s", "evaluation_interval": f"{interval_s}s",
                       "scrape_timeout": f"{interval_s}s"},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}],
        }  # fmt: skip
        self.config = self.dir / "prometheus.yml"
        self.config.write_text(json.dumps(config, indent=2))  # JSON is YAML
        self._log = open(self.log_path, "ab")
        argv = [
            binary,
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{API_PORT}",
            "--log.level=warn",
        ]
        self.proc = lab.popen(OBSERVER, argv, stdout=self._log, stderr=subprocess.STDOUT)

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET an API path inside the observer namespace; the decoded JSON (None if no answer)."""
        r = self.lab.run(OBSERVER, sys.executable, "-c", _QUERY, path, json.dumps(params or {}), str(API_PORT),
                         check=False)  # fmt: skip
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def ready(self, timeout_s: float) -> bool:
        def ok() -> bool:
            if self.proc.poll() is not None:
                raise LabError(f"prometheus exited {self.proc.returncode}:\n{self.log()}")
            d = self.get("/api/v1/status/runtimeinfo")
            return bool(d and d.get("status") == "success")

        return self.lab.wait_for(ok, timeout_s, 0.2)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query: the result vector (empty on no data); LabError on a bad query."""
        d = self.get("/api/v1/query", {"query": expr})
        if not d or d.get("status") != "success":
            raise LabError(f"query {expr!r}: {d}")
        return list(d["data"]["result"])

    def alerts(self, name: str | None = None) -> list[dict[str, Any]]:
        """Active alerts (pending and firing), optionally only ``name``."""
        d = self.get("/api/v1/alerts")
        if not d or d.get("status") != "success":
            return []
        return [a for a in d["data"]["alerts"] if name is None or a["labels"].get("alertname") == name]

    def rule_health(self) -> list[tuple[str, str, str]]:
        """(rule name, health, last error) of every loaded rule."""
        d = self.get("/api/v1/rules") or {}
        return [(r["name"], r.get("health", ""), r.get("lastError", ""))
                for g in d.get("data", {}).get("groups", []) for r in g["rules"]]  # fmt: skip

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_value(fn: Any, timeout_s: float, interval_s: float = 0.5) -> Any:
    """Call ``fn`` until it returns something truthy (returned) or the time is up (the last value)."""
    deadline = time.monotonic() + timeout_s
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval_s)
