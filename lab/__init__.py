"""The namespace lab: test, demo and benchmark infrastructure, not part of the daemon.

Nothing here ships in the vipkeeper wheel, and ``vipkeeper`` never imports it.
Run from the repository root (``python -m lab.demo``; pytest and ``bench`` put the
root on ``sys.path``).

- :mod:`lab.netns`   hosts in network namespaces on one bridge (:class:`lab.netns.Lab`)
- :mod:`lab.nodes`   a vipkeeper or keepalived daemon on a lab host (:class:`lab.nodes.Node`)
- :mod:`lab.seed`    the user's setup (``examples/seed``): its files, B's mirror, seed nodes
- :mod:`lab.conf`    keepalived.conf text for tests, bench and demo (``vrrp_instance`` and friends)
- :mod:`lab.pg`      a PostgreSQL 15 + repmgr cluster across lab hosts
- :mod:`lab.pg_rsh`  a token-checked ``ssh`` stand-in for repmgr between lab hosts
- :mod:`lab.demo`    ``make demo``
"""

from pathlib import Path

#: The repository root (the directory holding ``lab/``, ``src/``, ``examples/``).
ROOT = Path(__file__).resolve().parent.parent
