"""``no_accept`` (and ``vrrp_strict``'s default): drop traffic to the VIPs of a MASTER that is not
their address owner, with an nftables table of vipkeeper's own, ``inet vipkeeper``.

keepalived (vrrp_nftables.c, v2.2.7) does this with tables ``ip keepalived`` / ``ip6 keepalived``:
chains ``in`` (hook input) and ``out`` (hook output) at priority -1 that drop packets to and from
the addresses of a set ``vips``; neighbour solicitations and advertisements stay allowed, and an
IPv6 link-local VIP is matched with its interface.  A VIP enters the set as its instance becomes
MASTER, before the address is added, and leaves it after the address is removed
(vrrp.c ``vrrp_handle_accept_mode``).  vipkeeper does the same in one ``inet`` table.

Why ``nft -f -`` in a subprocess rather than libnftables through ctypes: the table changes only
when an instance without accept mode changes state (a few milliseconds for a fork of ``nft``,
off the protocol loop); the text is the same that ``nft list table inet vipkeeper`` shows, which
an operator can read and replay; and ``nft``'s own error messages go to the log as they are.
The daemon creates the table at start (replacing a leftover one) only when an instance needs it,
and deletes it at stop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import shutil
from collections.abc import Iterable

from vipkeeper.config.model import IPAddress

log = logging.getLogger(__name__)

__all__ = ["TABLE", "Firewall", "FirewallError"]

TABLE = "vipkeeper"
NFT_TIMEOUT_S = 10.0


class FirewallError(OSError):
    """``nft`` is missing or refused a change."""


def table_script(table: str = TABLE) -> str:
    """The whole table, created empty (a leftover one is replaced)."""
    nd = "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept"
    return f"""table inet {table}
delete table inet {table}
table inet {table} {{
    set vips4 {{ type ipv4_addr; }}
    set vips6 {{ type ipv6_addr; }}
    set vips6_link {{ type ifname . ipv6_addr; }}
    chain in {{
        type filter hook input priority -1; policy accept;
        ip daddr @vips4 drop
        {nd}
        iifname . ip6 daddr @vips6_link drop
        ip6 daddr @vips6 drop
    }}
    chain out {{
        type filter hook output priority -1; policy accept;
        ip saddr @vips4 drop
        {nd}
        oifname . ip6 saddr @vips6_link drop
        ip6 saddr @vips6 drop
    }}
}}
"""


def _elements(vips: Iterable[tuple[IPAddress, str]]) -> dict[str, list[str]]:
    sets: dict[str, list[str]] = {"vips4": [], "vips6": [], "vips6_link": []}
    for addr, ifname in vips:
        if addr.version == 4:
            sets["vips4"].append(str(addr))
        elif isinstance(addr, ipaddress.IPv6Address) and addr.is_link_local:
            sets["vips6_link"].append(f'"{ifname}" . {addr}')
        else:
            sets["vips6"].append(str(addr))
    return sets


def elements_script(command: str, vips: Iterable[tuple[IPAddress, str]], table: str = TABLE) -> str:
    """``add`` or ``delete`` the VIPs (address, interface) in their sets.  A delete first adds
    them, in the same transaction, so deleting one that is not there is no error."""
    lines = []
    for name, items in _elements(vips).items():
        if not items:
            continue
        body = ", ".join(items)
        lines.append(f"add element inet {table} {name} {{ {body} }}")
        if command == "delete":
            lines.append(f"delete element inet {table} {name} {{ {body} }}")
    return "\n".join(lines) + "\n" if lines else ""


class Firewall:
    """The ``inet vipkeeper`` table: ``await setup()``, ``add`` / ``delete`` VIPs, ``await close()``."""

    def __init__(self, table: str = TABLE, nft: str | None = None) -> None:
        self.table = table
        self.nft = nft or shutil.which("nft") or "/usr/sbin/nft"
        self.ready = False

    async def _run(self, script: str) -> None:
        if not script:
            return
        try:
            proc = await asyncio.create_subprocess_exec(
                self.nft,
                "-f",
                "-",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise FirewallError(exc.errno, f"cannot run {self.nft}: {exc.strerror}") from exc
        try:
            _out, err = await asyncio.wait_for(proc.communicate(script.encode()), NFT_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise FirewallError(0, f"{self.nft} did not answer within {NFT_TIMEOUT_S:g} s") from None
        if proc.returncode != 0:
            raise FirewallError(0, f"nft: {err.decode(errors='replace').strip()}")

    async def setup(self) -> None:
        await self._run(table_script(self.table))
        self.ready = True
        log.info("nftables table inet %s created (no_accept: traffic to a MASTER's VIPs is dropped)", self.table)

    async def add(self, vips: Iterable[tuple[IPAddress, str]]) -> None:
        await self._run(elements_script("add", vips, self.table))

    async def delete(self, vips: Iterable[tuple[IPAddress, str]]) -> None:
        await self._run(elements_script("delete", vips, self.table))

    async def remove_leftover(self) -> None:
        """Delete the table if a crashed run left it (quietly: no nft, or no table, is fine)."""
        if not shutil.which(self.nft) and not shutil.which("nft"):
            return
        try:
            await self._run(f"table inet {self.table}\ndelete table inet {self.table}\n")
        except FirewallError as exc:
            log.debug("no leftover nftables table inet %s: %s", self.table, exc)

    async def close(self) -> None:
        if not self.ready:
            return
        self.ready = False
        try:
            await self._run(f"table inet {self.table}\ndelete table inet {self.table}\n")
            log.info("nftables table inet %s removed", self.table)
        except FirewallError as exc:
            log.error("cannot remove nftables table inet %s: %s", self.table, exc)
