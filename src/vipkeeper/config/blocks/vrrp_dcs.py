"""``vrrp_dcs NAME { ... }`` (a vipkeeper extension): its keyword table and completion into
:class:`VrrpDcs`.  An instance refers to it with ``track_script`` (as to a ``vrrp_pgsql``).

``key`` is the etcd key (follow mode), so the TLS client's private key is ``tls_key``
(etcdctl's ``--key``); ``cacert`` and ``cert`` keep etcdctl's names.
"""

from __future__ import annotations

import urllib.parse

from vipkeeper.config.blocks.shared import weight_handler
from vipkeeper.config.constants import US_PER_S
from vipkeeper.config.keywords import Ctx, Draft, Kw, value
from vipkeeper.config.model import DcsMode, VrrpDcs
from vipkeeper.config.tree import Node
from vipkeeper.config.values import BadValue, decimal_units, whole_number

#: etcd's own bounds on a lease TTL are 1 .. 9 000 000 000 s; a useful one is a few seconds.
TTL_MIN_S = 2
TTL_MAX_S = 3600
SECONDS_MAX_US = 3600 * US_PER_S


def _seconds(node: Node) -> float:
    """A positive decimal number of seconds (millisecond resolution), at most an hour."""
    ms = decimal_units(node.args[0], 3, 1, SECONDS_MAX_US // 1000, node.name)
    return ms / 1000


def _endpoints(draft: Draft, node: Node, ctx: Ctx) -> None:
    urls: list[str] = draft.values.setdefault("endpoints", [])
    draft.nodes.setdefault("endpoints", node)
    for tok in node.args:
        try:
            u = urllib.parse.urlsplit(tok.value)
            port = u.port  # ValueError when not a number or out of range
        except ValueError:
            raise BadValue(tok, f"endpoint '{tok.value}' has a bad port") from None
        if u.scheme not in ("http", "https") or not u.hostname or u.path not in ("", "/") or u.query:
            raise BadValue(tok, f"endpoint '{tok.value}' is not http(s)://HOST[:PORT]")
        if port is None:
            ctx.warning(tok, f"endpoint '{tok.value}' has no port; using etcd's 2379")
        url = f"{u.scheme}://{u.netloc if port else u.netloc + ':2379'}"
        if url in urls:
            ctx.warning(tok, f"duplicate endpoint '{tok.value}', ignored")
            continue
        urls.append(url)


def _key(name: str) -> Kw:
    def handler(draft: Draft, node: Node, ctx: Ctx) -> None:
        tok = node.args[0]
        if not tok.value:
            raise BadValue(tok, f"'{name}' needs a non-empty etcd key")
        draft.set(name, tok.value, node)

    return Kw(handler, 1, 1)


def _ttl(draft: Draft, node: Node, ctx: Ctx) -> None:
    draft.set("ttl_s", whole_number(node.args[0], TTL_MIN_S, TTL_MAX_S, "ttl"), node)


VRRP_DCS_KEYWORDS: dict[str, Kw] = {
    "endpoints": Kw(_endpoints, 1),
    "key": _key("key"),
    "lock": _key("lock"),
    "value": value("value"),
    "ttl": Kw(_ttl, 1, 1),
    "interval": value("interval_s", _seconds),
    "timeout": value("timeout_s", _seconds),
    "weight": Kw(weight_handler(-253, 253), 1, 2),
    "cacert": value("cacert"),
    "cert": value("cert"),
    "tls_key": value("tls_key"),
    "user": value("user"),
    "password": value("password"),
}


def complete_dcs(draft: Draft, ctx: Ctx) -> VrrpDcs | None:  # noqa: C901 - one rule after another
    v = draft.values
    me = f"vrrp_dcs '{draft.name}'"
    at = draft.node
    assert at is not None
    ok = True
    if "endpoints" not in v:
        if "endpoints" not in draft.failed:
            ctx.error(at, f"{me} has no 'endpoints'")
        ok = False
    if "key" in v and "lock" in v:
        ctx.error(draft.nodes["lock"], f"{me}: 'key' (follow mode) and 'lock' (lock mode) exclude each other")
        ok = False
    elif "key" not in v and "lock" not in v:
        if not {"key", "lock"} & draft.failed:
            ctx.error(at, f"{me} needs 'key KEY' (follow mode) or 'lock KEY' (lock mode)")
        ok = False
    mode: DcsMode = "lock" if "lock" in v else "follow"
    if mode == "follow" and "ttl_s" in draft.nodes:
        ctx.warning(draft.nodes["ttl_s"], f"{me}: 'ttl' is for lock mode only, ignored")
    interval_s = v.get("interval_s", 1.0)
    timeout_s = v.get("timeout_s", 1.0)
    ttl_s = v.get("ttl_s", 6)
    if mode == "lock" and ok:
        # The keep-alive must renew well before expiry: one interval plus a timed-out request
        # plus a retry must fit in the TTL, with room for the safety margin (docs/vrrp_dcs.md).
        need_s = interval_s + 2 * timeout_s
        if ttl_s <= need_s:
            where = draft.nodes.get("ttl_s", at)
            ctx.error(
                where,
                f"{me}: ttl {ttl_s} s is too short for interval {interval_s:g} s and timeout {timeout_s:g} s "
                f"(needs more than interval + 2 x timeout = {need_s:g} s)",
            )
            ok = False
    if ("cert" in v) != ("tls_key" in v):
        ctx.error(draft.nodes.get("cert") or draft.nodes["tls_key"], f"{me}: 'cert' and 'tls_key' go together")
        ok = False
    if ("user" in v) != ("password" in v):
        ctx.error(draft.nodes.get("user") or draft.nodes["password"], f"{me}: 'user' and 'password' go together")
        ok = False
    tls = any(k in v for k in ("cacert", "cert"))
    for url in v.get("endpoints", []):
        if tls and url.startswith("http://"):
            ctx.warning(draft.nodes["endpoints"], f"{me}: TLS options are given but endpoint {url} is plain http")
            break
    if "password" in v and not any(u.startswith("https://") for u in v.get("endpoints", [])):
        ctx.warning(draft.nodes["password"], f"{me}: the password travels in clear over http endpoints")
    if not ok or draft.failed:
        return None
    return VrrpDcs(
        name=draft.name,
        endpoints=tuple(v["endpoints"]),
        mode=mode,
        key=v["lock"] if mode == "lock" else v["key"],
        value=v.get("value"),
        ttl_s=ttl_s,
        interval_s=interval_s,
        timeout_s=timeout_s,
        weight=v.get("weight", 0),
        weight_reverse=v.get("weight_reverse", False),
        cacert=v.get("cacert"),
        cert=v.get("cert"),
        tls_key=v.get("tls_key"),
        user=v.get("user"),
        password=v.get("password"),
        loc=draft.loc,
    )
