"""Remove the VIPs a killed vipkeeper left behind, first thing at start.

After a SIGKILL the dead daemon's VIPs stay on the interface, and the peer adds them too after
its Master_Down_Interval: two hosts hold the VIP until this host's next start removes its copy.
The daemon does that in ``Daemon._add_instance``, but only after importing asyncio and the
daemon and opening its sockets.  ``vipkeeper run`` calls :func:`remove_stale_vips` right after
parsing the configuration instead: one RTM_DELADDR per VIP over the daemon's own raw rtnetlink
code (:mod:`vipkeeper.io.rtnl`, which imports no asyncio).  The daemon's own removal still runs
afterwards and finds nothing left.

Never raises: whatever fails here is left to the daemon's own removal.
"""

from __future__ import annotations

import errno
import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from vipkeeper.io.rtnl import RtnlSocket
from vipkeeper.pidfile import other_daemon

if TYPE_CHECKING:
    from vipkeeper.config.model import Config

log = logging.getLogger(__name__)


def remove_stale_vips(config: Config, state_dir: Path) -> int:
    """Delete every configured VIP (and excluded VIP) from its interface; returns how many
    were there.  Logs what it removed, like the daemon's own start-up removal."""
    if other_daemon(state_dir) is not None:  # that daemon owns these VIPs (this one will not start)
        return 0
    total = 0
    try:
        rt = RtnlSocket()
    except OSError as exc:
        log.debug("early stale VIP removal: %s", exc)
        return 0
    try:
        for inst in config.instances:
            removed = []
            for v in inst.vips + inst.vips_excluded:
                try:
                    ifindex = socket.if_nametoindex(v.dev or inst.interface)
                    rt.addr_change(
                        False,
                        ifindex,
                        v.address.ip.packed,
                        v.address.network.prefixlen,
                        peer=v.peer.packed if v.peer else None,
                    )
                except (OSError, ValueError) as exc:
                    if getattr(exc, "errno", None) not in (errno.EADDRNOTAVAIL, errno.ENODEV):
                        log.debug("(%s) early stale VIP removal of %s: %s", inst.name, v.address, exc)
                    continue
                removed.append(str(v.address.ip))
            if removed:
                log.warning(
                    "(%s) removed %d stale VIP(s) left from a previous run: %s",
                    inst.name,
                    len(removed),
                    ", ".join(removed),
                )
                total += len(removed)
    finally:
        rt.close()
    return total
