"""``auth_hmac { ... }`` inside ``vrrp_instance`` (keepalived 2.4): its keyword table and its
completion.

Facts from keepalived 2.4.3 ``keepalived/vrrp/vrrp_parser.c`` (vrrp_auth_hmac_*_handler) and
``vrrp.c`` vrrp_complete_instance; keepalived.conf(5).  keepalived reports its errors and goes
on (a bad key is skipped; an undefined ``active_key`` disables the extension; strict mode
forces ``enforce``); vipkeeper refuses each of them: running without the authentication the
file asks for would change the wire.

``key ID VALUE``: ID 1..255; VALUE ``hex:HEXDIGITS``, ``file:PATH`` (the file holds what the
inline value would; trailing newlines dropped) or the ASCII key itself; 32..64 bytes.
"""

from __future__ import annotations

import os
import re
import stat

from vipkeeper.config.keywords import Ctx, Draft, Kw, child_nodes, dispatch
from vipkeeper.config.model import AuthHmac
from vipkeeper.config.tree import Node
from vipkeeper.config.values import BadValue, whole_number
from vipkeeper.core.auth_hmac import KEY_MAX, KEY_MIN, MODES, WINDOW_MAX_S, WINDOW_MIN_S, default_window_s

__all__ = ["AUTH_HMAC_KEYWORDS", "auth_hmac_block", "complete_auth_hmac"]

_HEX_RE = re.compile(r"(?:[0-9a-fA-F]{2}[ \t]*)*")
_KEY_FILE_MAX = 4 + KEY_MAX * 2 + 8  # keepalived: "hex:", the digits, some slack


def _decode_key(text: str) -> bytes | None:
    """keepalived vrrp_auth_hmac_decode_key: ``hex:`` digits (pairs, blanks between), else
    the ASCII string itself.  None: not hex."""
    if text.startswith("hex:"):
        digits = text[4:].strip(" \t")
        if not _HEX_RE.fullmatch(digits):
            return None
        return bytes.fromhex(digits.replace(" ", "").replace("\t", ""))
    return text.encode("utf-8", errors="surrogateescape")


def _read_key_file(path: str, node: Node, ctx: Ctx) -> bytes | None:
    """keepalived vrrp_auth_hmac_read_key_file."""
    tok = node.args[1]
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read(_KEY_FILE_MAX + 1)
    except OSError as exc:
        raise BadValue(tok, f"auth_hmac key file '{path}' cannot be opened ({exc.strerror})") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        ctx.warning(tok, f"auth_hmac key file '{path}' is readable by group or others")
    if len(data) > _KEY_FILE_MAX:
        raise BadValue(tok, f"auth_hmac key file '{path}' is too large")
    return _decode_key(data.rstrip(b"\r\n").decode("utf-8", errors="surrogateescape"))


def _key(draft: Draft, node: Node, ctx: Ctx) -> None:
    kid = whole_number(node.args[0], 1, 255, "auth_hmac key id")
    raw = node.args[1].value
    data = _read_key_file(raw[5:], node, ctx) if raw.startswith("file:") else _decode_key(raw)
    if data is None:
        raise BadValue(node.args[1], f"auth_hmac key {kid}: '{raw[:8]}...' is not valid hex")
    if not KEY_MIN <= len(data) <= KEY_MAX:
        raise BadValue(node.args[1], f"auth_hmac key {kid} length {len(data)} not in range [{KEY_MIN}, {KEY_MAX}]")
    keys: dict[int, bytes] = draft.values.setdefault("hmac_keys", {})
    if kid in keys:
        raise BadValue(node.args[0], f"duplicate auth_hmac key id {kid}")
    keys[kid] = data
    draft.nodes.setdefault("hmac_keys", node)


def _active_key(draft: Draft, node: Node, ctx: Ctx) -> None:
    draft.set("hmac_active_key", whole_number(node.args[0], 1, 255, "auth_hmac active_key"), node)


def _time_window(draft: Draft, node: Node, ctx: Ctx) -> None:
    window = whole_number(node.args[0], WINDOW_MIN_S, WINDOW_MAX_S, "auth_hmac time_window (seconds)")
    draft.set("hmac_time_window_s", window, node)


def _anti_replay(draft: Draft, node: Node, ctx: Ctx) -> None:
    word = node.args[0].value
    if word not in ("time", "monotonic"):
        raise BadValue(node.args[0], f"auth_hmac anti_replay '{word}' must be time or monotonic")
    draft.set("hmac_anti_replay_time", word == "time", node)


def _mode(draft: Draft, node: Node, ctx: Ctx) -> None:
    word = node.args[0].value
    if word not in MODES:
        raise BadValue(node.args[0], f"auth_hmac mode '{word}' must be enforce, permissive or receive-only")
    draft.set("hmac_mode", word, node)


AUTH_HMAC_KEYWORDS: dict[str, Kw] = {
    "key": Kw(_key, 2, 2),
    "active_key": Kw(_active_key, 1, 1),
    "time_window": Kw(_time_window, 1, 1),
    "anti_replay": Kw(_anti_replay, 1, 1),
    "mode": Kw(_mode, 1, 1),
}


def auth_hmac_block(draft: Draft, node: Node, ctx: Ctx) -> None:
    """``auth_hmac { ... }``; a second block adds to the first (keepalived keeps one)."""
    draft.nodes.setdefault("auth_hmac", node)
    draft.values["auth_hmac"] = True
    before = set(draft.failed)
    dispatch(ctx, child_nodes(node), AUTH_HMAC_KEYWORDS, draft, "auth_hmac")
    if draft.failed - before:
        draft.failed.add("auth_hmac")


def complete_auth_hmac(
    d: Draft, ctx: Ctx, me: str, *, strict: bool, advert_int_cs: int
) -> tuple[AuthHmac | None, bool]:
    """keepalived vrrp_complete_instance's auth_hmac part: (the block, ok)."""
    if not d.values.get("auth_hmac"):
        return None, True
    at = d.nodes["auth_hmac"]
    if "auth_hmac" in d.failed:
        return None, False  # already reported
    keys: dict[int, bytes] = d.values.get("hmac_keys", {})
    active: int | None = d.values.get("hmac_active_key")
    if active is None or active not in keys:
        # keepalived: "auth_hmac active_key %u is not defined, disabling extension"
        what = "no active_key" if active is None else f"active_key {active} is not defined"
        ctx.error(d.nodes.get("hmac_active_key", at), f"{me}: auth_hmac: {what} (keepalived would run unsigned)")
        return None, False
    mode = d.values.get("hmac_mode", "enforce")
    if strict and mode != "enforce":
        # keepalived: "strict mode requires auth_hmac mode enforce" (and forces it)
        ctx.error(d.nodes["hmac_mode"], f"{me}: strict mode requires auth_hmac mode enforce")
        return None, False
    anti_replay_time = d.values.get("hmac_anti_replay_time", True)
    window = d.values.get("hmac_time_window_s") or default_window_s(advert_int_cs)
    return (
        AuthHmac(
            keys=tuple(sorted(keys.items())),
            active_key=active,
            mode=mode,
            anti_replay_time=anti_replay_time,
            time_window_s=window,
            loc=at.loc,
        ),
        True,
    )
