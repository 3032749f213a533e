"""Broken sample configurations: each diagnostic at its exact file and line.

Every file in ``configs/broken/`` marks the lines where a diagnostic is expected with a
trailing comment ``# EXPECT <severity>: <part of the message>``; the test checks that the
parser reports exactly those (no more, no fewer), in that file, at those lines.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vipkeeper.config.load import parse_file

BROKEN = Path(__file__).parent / "configs" / "broken"
_EXPECT = re.compile(r"# EXPECT (error|warning): (.*)$")


def _expectations(path: Path) -> dict[int, tuple[str, str]]:
    out: dict[int, tuple[str, str]] = {}
    for lineno, text in enumerate(path.read_text().split("\n"), 1):
        m = _EXPECT.search(text)
        if m:
            out[lineno] = (m.group(1), m.group(2).strip())
    return out


CASES = sorted(BROKEN.glob("*.conf"))


def test_there_are_cases() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_broken_config_diagnostics(path: Path) -> None:
    expected = _expectations(path)
    assert expected, f"{path.name} has no EXPECT marker"
    _config, diagnostics = parse_file(str(path), config_id="testhost")
    got = {(d.file, d.line): d for d in diagnostics}
    assert len(got) == len(diagnostics), [str(d) for d in diagnostics]  # one per line
    assert set(got) == {(str(path), line) for line in expected}, [str(d) for d in diagnostics]
    for line, (severity, text) in expected.items():
        d = got[(str(path), line)]
        assert d.severity == severity, str(d)
        assert text in d.message, str(d)


@pytest.mark.parametrize(
    "name, line",
    [
        ("missing_close_brace", 6),  # the vrrp_instance whose '}' is missing
        ("extra_close_brace", 4),
        ("vrid_300", 4),
        ("priority_0", 5),
        ("include_missing", 1),
    ],
)
def test_str_is_file_line_severity_message(name: str, line: int) -> None:
    path = BROKEN / f"{name}.conf"
    _config, diagnostics = parse_file(str(path))
    assert str(diagnostics[0]).startswith(f"{path}:{line}: error: ")
