"""The ``vipkeeper`` command table and what ``vipkeeper run`` imports before its stale-VIP removal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SEED = Path(__file__).parent / "configs" / "valid" / "seed.conf"

#: Run in a fresh interpreter: ``vipkeeper run`` with remove_stale_vips replaced by a probe
#: that reports which heavy modules are already loaded, then exits (the daemon never starts).
_PROBE = """
import json, os, sys
import vipkeeper.io.stale_vips as stale_vips

HEAVY = ("asyncio", "pyroute2", "vipkeeper.daemon")

def probe(config, state_dir):
    loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in HEAVY))
    print(json.dumps({"instances": len(config.instances), "loaded": loaded}), flush=True)
    os._exit(0)

stale_vips.remove_stale_vips = probe
from vipkeeper.cli import main
main(["run", "-f", sys.argv[1], "--state-dir", sys.argv[2]])
"""


def test_run_removes_stale_vips_before_importing_asyncio_pyroute2_or_the_daemon(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-c", _PROBE, str(SEED), str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"instances": 1, "loaded": []}


def test_the_package_imports_no_heavy_module() -> None:
    code = (
        "import sys, vipkeeper.cli, vipkeeper.__main__; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('asyncio', 'pyroute2') "
        "or m == 'vipkeeper.daemon'))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, "[]\n"), r.stderr


def test_the_daemon_loads_no_crypto_without_ah_or_auth_hmac() -> None:
    """hashlib and hmac bring libcrypto (3.7 MB of RSS): only AH and auth_hmac instances need
    them, and those modules import them when they first compute a digest."""
    code = (
        "import sys, vipkeeper.cli.run, vipkeeper.config.load, vipkeeper.daemon.app; "
        "print(sorted(m for m in sys.modules if m in ('hashlib', 'hmac', '_hashlib')))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, "[]\n"), r.stderr
