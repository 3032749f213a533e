"""The VRRPv3 IPv4 unicast checksum dialects keepalived speaks (its ``unicast_chksum_compat``).

VRRPv3 over IPv4 includes an IPv4 pseudo-header in its checksum (RFC 5798 §5.2.8), whose
destination is the packet's: the peer's address when unicast.  keepalived <= 1.3.6 put the
multicast group (224.0.0.18, or ``vrrp_mcast_group4``) there for unicast adverts too.
keepalived 2.2.7 (vrrp.c ``vrrp_check_packet``, ``vrrp_build_vrrp_v3``) keeps three modes per
instance, and so does vipkeeper (``VrrpInstance.old_unicast_checksum``):

``"auto"`` (default)
    Send with the peer's address.  When a unicast advert fails its checksum but verifies
    with the group address, accept it and switch to the old form for good, sending and
    receiving (keepalived logs "Setting unicast VRRPv3 checksum to old version").
``"never"`` (``old_unicast_checksum never``)
    The peer's address only.
``"always"`` (``old_unicast_checksum``)
    The group address only.  Adverts with the modern checksum are refused.

Only VRRPv3 unicast over IPv4 with the pseudo-header is concerned; for anything else
:class:`UnicastChecksum` passes the real destination through.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from vipkeeper.core import codec
from vipkeeper.core.constants import VRRP_GROUP_V4
from vipkeeper.core.params import CHECKSUM_MODES as MODES
from vipkeeper.core.params import RouterParams
from vipkeeper.errors import DecodeError

Address = IPv4Address | IPv6Address

__all__ = ["MODES", "UnicastChecksum"]


class UnicastChecksum:
    """The checksum dialect of one instance; ``old`` says which one is in use now."""

    __slots__ = ("mode", "applies", "group", "old")

    def __init__(self, mode: str = "auto", *, applies: bool, group: IPv4Address = VRRP_GROUP_V4) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.mode = mode
        self.applies = applies  # VRRPv3, IPv4, unicast, pseudo-header checksum
        self.group = group
        self.old = applies and mode == "always"

    @classmethod
    def for_instance(
        cls,
        *,
        mode: str,
        version: int,
        family: int,
        unicast: bool,
        v3_checksum_as_v2: bool,
        group: IPv4Address = VRRP_GROUP_V4,
    ) -> UnicastChecksum:
        applies = version == 3 and family == 4 and unicast and not v3_checksum_as_v2
        return cls(mode, applies=applies, group=group)

    @classmethod
    def for_params(cls, p: RouterParams) -> UnicastChecksum:
        group = p.group if isinstance(p.group, IPv4Address) else VRRP_GROUP_V4
        return cls.for_instance(
            mode=p.checksum_mode,
            version=p.version,
            family=p.family,
            unicast=p.unicast,
            v3_checksum_as_v2=not p.v3_checksum_pseudo,
            group=group,
        )

    def pseudo_dst(self, dst: Address) -> Address:
        """The destination to put in the checksum's pseudo-header for a packet to ``dst``."""
        return self.group if self.old else dst

    def decode(
        self,
        payload: bytes,
        *,
        family: int,
        src: Address,
        dst: Address,
        v3_checksum_pseudo: bool = True,
        allow_auth_ah: bool = False,
    ) -> tuple[codec.Advertisement, bool]:
        """:func:`codec.decode` in this dialect: (advertisement, True if it just switched to old).

        Raises DecodeError like :func:`codec.decode` (``bad_checksum`` when neither
        allowed form verifies).
        """
        try:
            adv = codec.decode(
                payload,
                family=family,
                src=src,
                dst=self.pseudo_dst(dst),
                v3_checksum_pseudo=v3_checksum_pseudo,
                allow_auth_ah=allow_auth_ah,
            )
            return adv, False
        except DecodeError as exc:
            if (
                exc.reason != "bad_checksum"
                or not self.applies
                or self.old
                or self.mode != "auto"
                or family != 4
                or dst == self.group
            ):
                raise
            try:
                adv = codec.decode(
                    payload, family=family, src=src, dst=self.group, v3_checksum_pseudo=v3_checksum_pseudo
                )
            except DecodeError:
                raise exc from None
        self.old = True
        return adv, True
