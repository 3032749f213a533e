"""Mutated configurations never crash the parser: they only produce diagnostics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vipkeeper.config.load import load_config, parse_file, parse_string
from vipkeeper.config.model import Config
from vipkeeper.errors import ConfigError

SEED_TEXT = (Path(__file__).parent / "configs" / "valid" / "seed.conf").read_text()
RICH_TEXT = (Path(__file__).parent / "configs" / "broken" / "adjustments.conf").read_text()
TOKENS = re.findall(r"\S+|\n", SEED_TEXT)
VOCAB = sorted(set(TOKENS)) + [
    "{",
    "}",
    "{{",
    '"',
    "#",
    "!",
    "$X=1",
    "$X",
    "${X}",
    "@host",
    "include",
    "include *.nope",
    "vrrp_instance",
    "vrrp_sync_group",
    "group",
    "version",
    "3",
    "2",
    "255",
    "0",
    "-1",
    "1.5",
    "fe80::1",
    "2001:db8::1",
    "::",
    "10.0.0.1/33",
    "weight",
    "reverse",
    "nopreempt",
    "priority",
    "state",
    "BACKUP",
    "authentication",
    "auth_pass",
    "AH",
    "use_vmac",
    "vrrp_pgsql",
    "conninfo",
    "track_file",
    "vrrp_track_file",
    "file",
    "init_file",
    "brd",
    "+",
    "dev",
    "label",
    "scope",
    "\\",
    "\t",
    "'",
    "\x00",
    "é",
    "\u2028",
    "\x0c",
]


def _mutate(tokens: list[str], edits: list[tuple[int, int, str]]) -> str:
    out = list(tokens)
    for kind, pos, word in edits:
        i = pos % (len(out) + 1)
        if kind == 0 and out:
            del out[min(i, len(out) - 1)]
        elif kind == 1:
            out.insert(i, word)
        elif out:
            out[min(i, len(out) - 1)] = word
    return " ".join(out)


edits = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.sampled_from(VOCAB)), max_size=12)


def _check_diagnostics(config: object, diagnostics: list) -> None:
    assert isinstance(config, Config)
    for d in diagnostics:
        assert d.severity in ("error", "warning")
        assert isinstance(d.file, str) and d.file  # a mutation may include a real file: not always ours
        assert d.line >= 1
        assert str(d).startswith(f"{d.file}:{d.line}: {d.severity}: ")
        assert "\n" not in str(d), "one line per diagnostic"


def _check(text: str) -> None:
    _check_diagnostics(*parse_string(text, path="fuzz.conf", config_id="host"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits)
def test_token_mutations_of_the_seed_only_produce_diagnostics(e: list[tuple[int, int, str]]) -> None:
    _check(_mutate(TOKENS, e))


@settings(max_examples=200, deadline=None)
@given(edits)
def test_token_mutations_of_a_richer_config(e: list[tuple[int, int, str]]) -> None:
    _check(_mutate(re.findall(r"\S+|\n", RICH_TEXT), e))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 10_000), st.characters(codec="utf-8")), max_size=10))
def test_character_mutations_only_produce_diagnostics(e: list[tuple[bool, int, str]]) -> None:
    text = SEED_TEXT
    for insert, pos, ch in e:
        i = pos % (len(text) + 1)
        text = text[:i] + ch + text[i:] if insert else text[:i] + text[i + 1 :]
    _check(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    _check(text)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits)
def test_load_config_raises_only_config_error(
    tmp_path_factory: pytest.TempPathFactory, e: list[tuple[int, int, str]]
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "k.conf"
    path.write_text(_mutate(TOKENS, e), errors="surrogateescape")
    try:
        load_config(str(path))
    except ConfigError as err:
        assert err.file and err.line >= 0


# Byte-level damage on disk (NUL, invalid UTF-8, CR, odd line separators) and hostile include
# lines go through parse_file and load_config, as the daemon reads its configuration.
HOSTILE_LINES = [
    b'include "a\x00b"',
    b"include a\x00*",
    b"include a\x00/*",
    b"include /etc/\x00*/x",
    b"include /dev/null",
    b"include /dev/zero",
    b"include /",
    b"include /proc/self/status",
    b"include *",
    b"include [",
    b'include ""',
    b"include \xff\xfe",
    b"$V=\x00",
    b"@\xff vrrp_instance X {",
    b'"' + b"x" * 5000,
]
BYTES = [b"\x00", b"\xff", b"\xc3", b"\r", b"\r\n", b"\\", b"{", b"}", b'"', b"\x0b", b"\xe2\x80\xa8", b"\t"]
byte_edits = st.lists(
    st.tuples(st.integers(0, 10_000), st.sampled_from(BYTES + [b"\n" + line + b"\n" for line in HOSTILE_LINES])),
    min_size=1,
    max_size=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(byte_edits)
def test_byte_mutations_on_disk_give_located_diagnostics_and_config_error(
    tmp_path_factory: pytest.TempPathFactory, e: list[tuple[int, bytes]]
) -> None:
    data = bytearray(SEED_TEXT.encode())
    for pos, chunk in e:
        i = pos % (len(data) + 1)
        data[i:i] = chunk
    path = tmp_path_factory.mktemp("fuzzb") / "keepalived.conf"
    path.write_bytes(bytes(data))
    config, diagnostics = parse_file(str(path), config_id="host")
    _check_diagnostics(config, diagnostics)
    errors = [d for d in diagnostics if d.is_error]
    try:
        load_config(str(path), config_id="host")
    except ConfigError as err:
        assert errors and (err.file, err.line) == (errors[0].file, errors[0].line)
    else:
        assert not errors


def test_include_with_nul_is_a_diagnostic_not_a_traceback() -> None:
    """Found by tests/fuzz/fuzz_config.py: glob() raised ValueError on an include with a NUL."""
    for line in ('include "a\x00/*"', "include /etc/\x00*/x", "include a\x00b"):
        config, diagnostics = parse_string(line + "\n", path="k.conf")
        assert [(d.file, d.line, d.severity) for d in diagnostics] == [("k.conf", 1, "error")]
        assert "NUL" in diagnostics[0].message
