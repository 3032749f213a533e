"""keepalived.conf text for the lab, the tests and the benchmarks: one builder.

Every function returns text (a block and its closing newline), so configurations are
concatenations::

    from lab import conf

    text = conf.global_defs("vrrp_garp_master_delay 1") + conf.vrrp_instance(
        "VI_1", vrid=42, priority=150, advert_int="0.1", version=3, vips=["172.20.0.115"],
        track_script=["chk"])

Values are written as given (``advert_int="0.05"``, ``script='"/path with space"'``);
a keyword whose argument is None is left out, so the daemon's default applies.  Both
vipkeeper and keepalived read the result.  ``extra`` items are lines of the block, or
nested blocks made with :func:`section`.

Instance keywords come in one order: state, interface, virtual_router_id, priority,
advert_int, version, unicast_src_ip, unicast_peer, authentication, ``extra``,
virtual_ipaddress, track_script, track_file, track_interface.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

INDENT = "    "

Item = str | Sequence[str]  # a line, or a nested block's lines (from section())


def section(head: str, items: Iterable[Item] = ()) -> list[str]:
    """The lines of ``head {`` ... ``}``, items indented one level (nested blocks further)."""
    return [f"{head} {{", *(INDENT + line for line in _flatten(items)), "}"]


def _flatten(items: Iterable[Item]) -> list[str]:
    out: list[str] = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        else:
            out.extend(item)
    return out


def _text(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def _kw(key: str, value: object) -> list[str]:
    return [] if value is None else [f"{key} {value}"]


def block(head: str, items: Iterable[Item] = ()) -> str:
    """Any block, as text: ``block("vrrp_sync_group G", [section("group", ["VI_1", "VI_2"])])``."""
    return _text(section(head, items))


def global_defs(*lines: str) -> str:
    return block("global_defs", lines)


def vrrp_instance(
    name: str,
    *,
    vrid: int,
    priority: int | None = None,
    state: str | None = None,
    interface: str = "eth0",
    advert_int: str | float | None = None,
    version: int | None = None,
    unicast_src: str | None = None,
    unicast_peers: Iterable[str] = (),
    auth_pass: str | None = None,
    auth_type: str = "PASS",
    extra: Iterable[Item] = (),
    vips: Iterable[str] = (),
    track_script: Iterable[str] = (),
    track_file: Iterable[str] = (),
    track_interface: Iterable[str] = (),
) -> str:
    """One ``vrrp_instance`` block.  ``track_*`` entries are whole lines (``"tf weight 0"``)."""
    body: list[Item] = [
        *_kw("state", state),
        *_kw("interface", interface),
        f"virtual_router_id {vrid}",
        *_kw("priority", priority),
        *_kw("advert_int", advert_int),
        *_kw("version", version),
        *_kw("unicast_src_ip", unicast_src),
    ]
    peers = list(unicast_peers)
    if peers:
        body.append(section("unicast_peer", peers))
    if auth_pass is not None:
        body.append(section("authentication", [f"auth_type {auth_type}", f"auth_pass {auth_pass}"]))
    body.extend(extra)
    addrs = list(vips)
    if addrs:
        body.append(section("virtual_ipaddress", addrs))
    for key, entries in (
        ("track_script", track_script),
        ("track_file", track_file),
        ("track_interface", track_interface),
    ):
        entries = list(entries)
        if entries:
            body.append(section(key, entries))
    return block(f"vrrp_instance {name}", body)


def vrrp_script(
    name: str,
    script: str,
    *,
    interval: object = None,
    timeout: object = None,
    weight: object = None,
    extra: Iterable[Item] = (),
) -> str:
    """``script`` is written as given: quote it yourself if it has to be (``'"/a b/chk.sh"'``)."""
    return block(
        f"vrrp_script {name}",
        [f"script {script}", *_kw("interval", interval), *_kw("timeout", timeout), *_kw("weight", weight), *extra],
    )


def vrrp_track_file(name: str, file: object, *, weight: object = None) -> str:
    return block(f"vrrp_track_file {name}", [f"file {file}", *_kw("weight", weight)])


def vrrp_sync_group(name: str, members: Iterable[str]) -> str:
    return block(f"vrrp_sync_group {name}", [section("group", members)])


def vrrp_pgsql(
    name: str,
    conninfo: str,
    *,
    interval: object = None,
    timeout: object = None,
    rise: object = None,
    fall: object = None,
    weight: object = None,
    peer_conninfo: Iterable[str] = (),
    data_directory: object = None,
) -> str:
    """vipkeeper's ``vrrp_pgsql`` check; conninfo strings are quoted here."""
    return block(
        f"vrrp_pgsql {name}",
        [
            f'conninfo "{conninfo}"',
            *_kw("interval", interval),
            *_kw("timeout", timeout),
            *_kw("rise", rise),
            *_kw("fall", fall),
            *_kw("weight", weight),
            *(f'peer_conninfo "{p}"' for p in peer_conninfo),
            *_kw("data_directory", data_directory),
        ],
    )
