"""The user's setup (``examples/seed`` in this repository), as the lab runs it.

``examples/seed/keepalived.conf`` and ``keepalived_pgsql_chk.sh`` are acceptance
fixtures, byte for byte the user's; host A runs the config as it is, host B its
mirror (:func:`mirror_of_seed`).  The check script looks for
``/var/lib/pgsql/12/data/standby.signal``: a node started with
``private_var_lib=True`` (:mod:`lab.nodes`) sees its own ``/var/lib/pgsql``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lab import ROOT
from lab.conf import vrrp_script
from lab.netns import Lab
from lab.nodes import Node

SEED_DIR = ROOT / "examples" / "seed"
SEED_SCRIPT_PATH = "/var/lib/pgsql/12/repmgr/keepalived_pgsql_chk.sh"


def seed_dir() -> Path:
    """The user's original setup, ``examples/seed`` in this repository."""
    if (SEED_DIR / "keepalived.conf").exists():
        return SEED_DIR
    raise FileNotFoundError(f"the seed files ({SEED_DIR / 'keepalived.conf'}) are missing")


def mirror_of_seed(text: str) -> str:
    """The seed config as host B runs it: BACKUP, priority 99, addresses swapped."""
    return (
        text.replace("state MASTER", "state BACKUP")
        .replace("priority 100", "priority 99")
        .replace("unicast_src_ip 172.20.0.112", "unicast_src_ip 172.20.0.TMP")
        .replace("        172.20.0.113", "        172.20.0.112")
        .replace("172.20.0.TMP", "172.20.0.113")
    )


def set_standby(node: Node, standby: bool) -> None:
    """Flip the seed check on one host: its ``standby.signal`` exists or not."""
    f = node.pgsql_dir / "12" / "data" / "standby.signal"
    if standby:
        f.touch()
    elif f.exists():
        f.unlink()


def seed_node(lab: Lab, host: str, workdir: Path, conf: str, *, standby: bool, fake_pg_isready: bool = True) -> Node:
    """A node running ``conf`` with the seed's check script, unchanged, at its
    path: start it with ``private_var_lib=True``.  ``standby`` puts a
    ``standby.signal`` in its data directory.  With ``fake_pg_isready`` a
    stand-in ``pg_isready`` first on PATH answers like a running server."""
    seed = seed_dir()
    n = Node(lab, host, workdir)
    n.write_config(conf)
    repmgr = n.pgsql_dir / "12" / "repmgr"
    repmgr.mkdir(parents=True, exist_ok=True)
    (n.pgsql_dir / "12" / "data").mkdir(parents=True, exist_ok=True)
    shutil.copy(seed / "keepalived_pgsql_chk.sh", repmgr / "keepalived_pgsql_chk.sh")
    (repmgr / "keepalived_pgsql_chk.sh").chmod(0o700)
    set_standby(n, standby)
    if fake_pg_isready:
        n.bin_dir.mkdir(parents=True, exist_ok=True)
        fake = n.bin_dir / "pg_isready"
        fake.write_text("#!/bin/sh\necho '127.0.0.1:5432 - accepting connections'\n")
        fake.chmod(0o755)
    return n


def seed_script_conf(name: str = "chk_haproxy") -> str:
    """The seed's vrrp_script block, as in its keepalived.conf."""
    return vrrp_script(name, f'"{SEED_SCRIPT_PATH}"', interval=2, weight=4)


def install_seed_check(pgsql_dir: Path, node, seed_dir: Path) -> None:
    """Lay out a daemon node's private ``/var/lib/pgsql`` (lab.nodes.Node.pgsql_dir)
    as the seed script expects it: ``12/data`` is this host's real data directory
    (``node.data`` of a :class:`lab.pg.PgNode`, a symlink),
    ``12/repmgr/keepalived_pgsql_chk.sh`` the unchanged script."""
    (pgsql_dir / "12" / "repmgr").mkdir(parents=True, exist_ok=True)
    link = pgsql_dir / "12" / "data"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(node.data)
    dst = pgsql_dir / "12" / "repmgr" / "keepalived_pgsql_chk.sh"
    shutil.copy(seed_dir / "keepalived_pgsql_chk.sh", dst)
    dst.chmod(0o700)
