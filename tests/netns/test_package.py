"""The Debian package, as an operator uses it: ``make deb`` builds it (once per session; set
VIPKEEPER_DEB to test a package built already), ``dpkg -i`` installs it, the installed
``vipkeeper check`` accepts the seed config, the installed daemon runs in a lab host and takes
the VIP (and answers /healthz and /status), ``man vipkeeper`` works, and ``dpkg -r`` leaves
nothing but the configuration.  keepalived's files stay as they were throughout.

This test installs into this machine's root file system (what the package is for): it refuses
to run when a vipkeeper package is installed already, and purges its own at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.netns import OBSERVER, Lab
from tests.conftest import unavailable

pytestmark = pytest.mark.netns

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples/seed/keepalived.conf"
SEED_VIP = "172.20.0.115"
WAIT_S = 30.0  # generous: the seed's advert_int is 1 s, Master_Down_Interval about 3 s
PKG = "vipkeeper"


def run(*argv: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


def package_status() -> str | None:
    r = run("dpkg-query", "-W", "-f", "${db:Status-Abbrev}", PKG)
    return r.stdout.strip() if r.returncode == 0 else None


def keepalived_state() -> dict[str, str]:
    """What an upgrade could change of keepalived: its files' hashes, dpkg's verdict, diversions."""
    state: dict[str, str] = {}
    if run("dpkg", "-s", "keepalived").returncode == 0:
        for f in run("dpkg", "-L", "keepalived").stdout.split():
            p = Path(f)
            if p.is_file() and not p.is_symlink():
                state[f] = hashlib.sha256(p.read_bytes()).hexdigest()
        state["dpkg --verify"] = run("dpkg", "--verify", "keepalived").stdout
    for p in sorted(Path("/etc/keepalived").rglob("*")) if Path("/etc/keepalived").exists() else []:
        if p.is_file():
            state[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    state["diversions"] = "\n".join(
        line for line in run("dpkg-divert", "--list").stdout.splitlines() if "keepalived" in line
    )
    return state


@pytest.fixture(scope="session")
def deb_file() -> Path:
    """The package under test: $VIPKEEPER_DEB, else built by packaging/deb/build.sh (make deb)."""
    if os.environ.get("VIPKEEPER_DEB"):
        return Path(os.environ["VIPKEEPER_DEB"])
    for tool in ("dpkg-buildpackage", "dh_virtualenv", "rst2man"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed (make deb installs dpkg-dev, dh-virtualenv, python3-docutils)")
    r = run(str(ROOT / "packaging/deb/build.sh"), timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    built = r.stdout.strip().splitlines()[-1].removeprefix("built ")
    return ROOT / built


@pytest.fixture(scope="module")
def installed(lab_registry, deb_file: Path) -> Iterator[dict[str, object]]:
    """dpkg -i the package; purged at the end whatever happens."""
    if os.geteuid() != 0:
        unavailable("installing a package needs root")
    if package_status() not in (None, "un ", "pn "):
        unavailable(f"a {PKG} package is installed on this machine already ({package_status()}); not replacing it")
    before = keepalived_state()
    r = run("dpkg", "-i", str(deb_file), env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        files = run("dpkg", "-L", PKG).stdout.split()
        conffiles = run("dpkg-query", "-W", "-f", "${Conffiles}", PKG).stdout.split()
        yield {"files": files, "conffiles": [c for c in conffiles if c.startswith("/")], "keepalived": before}
    finally:
        run("dpkg", "--purge", PKG)


def test_installs_the_command_unit_example_config_and_man_pages(installed) -> None:
    assert os.path.realpath("/usr/bin/vipkeeper") == "/opt/venvs/vipkeeper/bin/vipkeeper"
    r = run("/usr/bin/vipkeeper", "--version")
    assert r.returncode == 0 and r.stdout.strip() == "vipkeeper 0.1.0", r.stdout + r.stderr
    # the extras are in the package's own virtualenv
    r = run("/opt/venvs/vipkeeper/bin/python", "-c", "import psycopg, prometheus_client, pyroute2")
    assert r.returncode == 0, r.stderr
    unit = Path("/lib/systemd/system/vipkeeper.service").read_text()
    assert "ExecStart=/usr/bin/vipkeeper run" in unit and "ExecStartPre=/usr/bin/vipkeeper check" in unit
    assert installed["conffiles"] == ["/etc/vipkeeper/vipkeeper.conf.example"]
    r = run("/usr/bin/vipkeeper", "check", "-f", "/etc/vipkeeper/vipkeeper.conf.example")
    assert r.returncode == 0, r.stdout + r.stderr
    assert Path("/usr/share/vipkeeper/prometheus/vipkeeper.rules.yml").exists()
    assert Path("/usr/share/vipkeeper/grafana/vipkeeper.json").exists()
    env = {**os.environ, "MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "100", "LANG": "C.UTF-8"}
    for page, needles in ((["vipkeeper"], ("SIGNALS", "EXIT STATUS", "FILES", "/healthz")),
                          (["5", "vipkeeper.conf"], ("vrrp_pgsql", "fast_preempt", "metrics_listen"))):  # fmt: skip
        r = run("man", *page, env=env)
        assert r.returncode == 0, r.stderr
        for needle in needles:
            assert needle in r.stdout, (page, needle)
    # never enabled or started: vipkeeper.service conflicts with keepalived.service
    assert not Path("/etc/systemd/system/multi-user.target.wants/vipkeeper.service").exists()


def test_installed_check_accepts_the_seed_config(installed) -> None:
    r = run("/usr/bin/vipkeeper", "check", "-f", str(SEED))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == f"{SEED}: OK (1 instance, 1 script)"


def test_installed_daemon_takes_the_vip_in_a_lab_host(installed, tmp_path: Path, lab_registry) -> None:
    """Host A of the seed, alone on its segment: the installed daemon runs the seed config
    unchanged (its check script is absent here: the priority stays 100) and takes the VIP."""
    with Lab(("A",)) as lab:
        lab_registry.extend(lab.namespaces)
        state = tmp_path / "state"
        log = open(tmp_path / "daemon.log", "wb")
        argv = ["/usr/bin/vipkeeper", "run", "-f", str(SEED), "--state-dir", str(state),
                "--metrics-listen", f"{lab.host('A').ip4}:9650"]  # fmt: skip
        proc = lab.popen("A", argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            assert lab.wait_for(lambda: lab.holders(SEED_VIP) == ["A"], WAIT_S), (tmp_path / "daemon.log").read_text()
            r = run("/usr/bin/vipkeeper", "status", "--state-dir", str(state), "--json")
            st = json.loads(r.stdout)
            assert [(i["name"], i["state"], i["vips_held"]) for i in st["instances"]] == [("VI_1", "MASTER", True)]
            # what a load balancer and a human ask the installed daemon, from another host
            code = (
                "import json,sys,urllib.request as u;"
                "h=u.urlopen(sys.argv[1]+'/healthz',timeout=10);s=u.urlopen(sys.argv[1]+'/status',timeout=10);"
                "print(json.dumps([h.status,json.loads(h.read())['status'],json.loads(s.read())['summary']]))"
            )
            r = lab.run(OBSERVER, sys.executable, "-c", code, f"http://{lab.host('A').ip4}:9650")
            assert json.loads(r.stdout) == [200, "ok", "1 MASTER"]
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(WAIT_S) == 0
            assert lab.holders(SEED_VIP) == []  # released on the way out
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            log.close()


def test_remove_leaves_only_the_configuration_and_keepalived_untouched(installed) -> None:
    r = run("dpkg", "-r", PKG)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "not empty so not removed" not in r.stdout + r.stderr
    assert package_status() == "rc"  # removed, configuration files kept (Debian policy)
    left = [f for f in installed["files"] if os.path.lexists(f) and not os.path.isdir(f)]
    assert left == installed["conffiles"] == ["/etc/vipkeeper/vipkeeper.conf.example"]
    assert not os.path.lexists("/opt/venvs/vipkeeper")
    assert not os.path.lexists("/usr/bin/vipkeeper")
    assert keepalived_state() == installed["keepalived"]
