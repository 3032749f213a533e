"""The corpus: ``vipkeeper check`` and ``keepalived -t`` (2.2.7) agree on every file of tests/corpus.

Each corpus file is written for vipkeeper, modelled on a real keepalived.conf (its first line
names what inspired it).  keepalived -t runs in a private network namespace (``unshare -n``,
so it needs root) holding a (veth) interface for every interface the corpus names; nothing is
left behind when the process ends.

What "agree" means (the mapping):

- accept/reject: keepalived -t prints nothing and exits 0 exactly when vipkeeper check prints
  no diagnostic other than its own notes (messages naming vipkeeper: a keyword it accepts and
  ignores, a difference it documents).  keepalived's "SECURITY VIOLATION - scripts are being
  executed but script_security not enabled" (no line) is left out of this: vipkeeper logs it
  when the daemon starts (daemon.trackers.ScriptUsers), not in check.
- every message keepalived gives with a line number is matched by a vipkeeper diagnostic at
  the same line (its wording may differ);
- a message without a line (keepalived's completion step) is matched through
  :data:`UNLINED`: a pattern on keepalived's message and the words vipkeeper's message must
  contain; an unknown one fails the test, so a new kind of keepalived message gets a mapping.

A file whose disagreement belongs to another part of vipkeeper carries
``# corpus-xfail: AREA: reason`` and is a strict expected failure: once that part is merged
and the file agrees, the marker has to go.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_binary, require_netns

pytestmark = pytest.mark.netns

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
FILES = sorted(CORPUS.glob("*.conf"))
XFAIL_RE = re.compile(r"^#\s*corpus-xfail:\s*(.+)$", re.M)
IFACE_RE = re.compile(r"^\s*(?:interface|dev)\s+([A-Za-z0-9_.:-]+)\s*$|\sdev\s+([A-Za-z0-9_.-]+)", re.M)
TRACK_IF_RE = re.compile(r"track_interface\s*\{([^}]*)\}", re.S)

# keepalived message (no line) -> what vipkeeper's message at any line must contain
INST = r"\((?P<i>[^)]+)\) "  # keepalived's "(INSTANCE) " prefix
UNLINED: list[tuple[re.Pattern[str], str]] = [
    (re.compile(INST + r"No VIP specified; at least one is sensible"), "no virtual_ipaddress"),
    (re.compile(INST + r"ignoring tracked script (?P<n>\S+) with weights due to"), "{n}"),
    (re.compile(INST + r"ignoring weight from tracked file (?P<n>\S+) due to"), "{n}"),
    (re.compile(INST + r"ignoring tracked file (?P<n>\S+) with weight"), "{n}"),
    (re.compile(INST + r"ignoring (?P<n>\S+) tracked interface"), "{n}"),
    (re.compile(INST + r"Ignoring track_interface (?P<n>\S+) since own interface"), "since own interface"),
    (re.compile(INST + r"nopreempt is incompatible with priority 255"), "nopreempt"),
    (re.compile(INST + r"Warning - nopreempt will not work with initial state MASTER"), "nopreempt"),
    (re.compile(INST + r"Warning - preempt delay will not work with initial state MASTER"), "preempt_delay"),
    (re.compile(INST + r"State MASTER must match being address owner"), "strict mode"),
    (re.compile(INST + r"Strict mode does not support authentication"), "strict mode does not support authentication"),
    (re.compile(r"VRRP_Group (?P<i>\S+) has only 1 virtual router"), "only one vrrp_instance"),
    (re.compile(INST + r"Cannot have weighted track script '(?P<n>[^']+)' with priority"), "{n}"),
    (re.compile(INST + r"Cannot have weighted track \w+ '(?P<n>[^']+)' with member having priority"), "{n}"),
    (re.compile(INST + r"vrrp_version 2 does not support IPv6"), "version"),
    (re.compile(INST + r"A unicast keyword has been specified without any unicast peers"), "unicast"),
    (re.compile(INST + r"VRRPv2 advertisement interval \S+ must be an integer"), "advert_int"),
]
# keywords keepalived acts on that other parts of issue 13 implement: while vipkeeper says it
# ignores or refuses one of them, the file disagrees with keepalived (its xfail names the part)
OTHER_PARTS = {
    "hostnet": "virtual_routes virtual_rules static_ipaddress static_routes static_rules promote_secondaries "
    "accept no_accept garp_extra_if",
    "wire": "AH mcast_dst_ip unicast_ttl track_src_ip skip_check_adv_addr vrrp_skip_check_adv_addr",
    "vmac": "use_vmac vmac_xmit_base use_vmac_addr dont_track_primary unicast_fault_no_peer notify_fifo_script "
    "gna_interval",
}
SECURITY_NOTICE = "SECURITY VIOLATION - "  # scripts, check scripts: "... but script_security not enabled"
KEEPALIVED_LINE_RE = re.compile(r"^\((?:(?P<file>[^:()]+): )?Line (?P<line>\d+)\) (?P<msg>.*)$")
VIPKEEPER_RE = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<sev>error|warning): (?P<msg>.*)$")
NOISE = ("Config files missing", "Non-existent interface specified in configuration")


@dataclass
class KeepalivedResult:
    rc: int
    lines: list[str]


def interfaces() -> list[str]:
    names: set[str] = {"eth0"}
    for f in FILES:
        text = f.read_text()
        for m in IFACE_RE.finditer(text):
            names.add(m.group(1) or m.group(2))
        for m in TRACK_IF_RE.finditer(text):
            for line in m.group(1).splitlines():
                words = line.split("#")[0].split()
                if words:
                    names.add(words[0])
    return sorted(n for n in names if len(n) <= 15)


@pytest.fixture(scope="module")
def keepalived_results(tmp_path_factory) -> dict[str, KeepalivedResult]:
    """keepalived -t on every corpus file, in one private network namespace."""
    require_netns()
    binary = require_binary("keepalived", "/usr/sbin")
    unshare = shutil.which("unshare")
    ip = shutil.which("ip")
    if unshare is None or ip is None:
        pytest.fail("unshare and ip (util-linux, iproute2) are needed", pytrace=False)
    work = tmp_path_factory.mktemp("corpus")
    script = ["set -e"]
    for k, name in enumerate(interfaces()):  # veth pairs: the dummy module may be missing
        script.append(f"{ip} link add '{name}' type veth peer name 'kp{k}'")
        script.append(f"{ip} link set '{name}' up")
    script.append("set +e")
    for f in FILES:
        script.append(f"echo '=== {f.name}'; {binary} -t -l -n -D -f '{f}' 2>&1; echo \"=== rc $?\"")
    proc = subprocess.run(
        [unshare, "--net", "--", "sh", "-c", "\n".join(script)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=work,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results: dict[str, KeepalivedResult] = {}
    current: str | None = None
    lines: list[str] = []
    for line in proc.stdout.splitlines():
        if line.startswith("=== rc "):
            assert current is not None
            results[current] = KeepalivedResult(int(line.split()[2]), lines)
            current, lines = None, []
        elif line.startswith("=== "):
            current = line[4:]
        elif line.strip() and not line.startswith(NOISE):
            lines.append(line.strip())
    return results


def vipkeeper_check(path: Path) -> tuple[int, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-m", "vipkeeper", "check", "-f", str(path)], capture_output=True, text=True, timeout=60
    )
    assert "Traceback" not in proc.stderr, proc.stderr  # never a crash
    return proc.returncode, [ln for ln in proc.stderr.splitlines() if ln.strip()]


def disagreements(path: Path, ka: KeepalivedResult) -> list[str]:
    rc, diags = vipkeeper_check(path)
    parsed = [m.groupdict() for m in map(VIPKEEPER_RE.match, diags) if m]
    assert len(parsed) == len(diags), diags
    ours = [d for d in parsed if Path(d["file"]).name == path.name]
    ours_kept = [d for d in ours if "vipkeeper" not in d["msg"]]
    theirs = [ln for ln in ka.lines if SECURITY_NOTICE not in ln]
    problems: list[str] = []
    if bool(theirs) != bool(ours_kept):
        problems.append(
            f"accept/reject: keepalived -t rc {ka.rc} with {len(theirs)} message(s), "
            f"vipkeeper check rc {rc} with {len(ours_kept)} diagnostic(s)"
        )
    if rc != 0 and not any("error" == d["sev"] for d in ours):
        problems.append(f"vipkeeper check exit {rc} without an error")
    for d in ours:
        if "vipkeeper" not in d["msg"]:
            continue
        for part, words in OTHER_PARTS.items():
            named = [w for w in words.split() if re.search(rf"\b{w}\b", d["msg"])]
            if named:
                problems.append(
                    f"line {d['line']}: keepalived acts on {named[0]}, vipkeeper does not ({part}): {d['msg']}"
                )
    lines_ours = {int(d["line"]) for d in ours}
    for msg in theirs:
        m = KEEPALIVED_LINE_RE.match(msg)
        if m:
            if int(m["line"]) not in lines_ours:
                problems.append(f"keepalived line {m['line']} not named by vipkeeper: {m['msg']}")
            continue
        for pattern, want in UNLINED:
            u = pattern.search(msg)
            if u:
                needle = want.format(**u.groupdict())
                if not any(needle in d["msg"] for d in ours):
                    problems.append(f"keepalived '{msg}' has no vipkeeper diagnostic with '{needle}'")
                break
        else:
            problems.append(f"keepalived message without a mapping (add one to UNLINED): {msg}")
    return problems


def _param(path: Path):  # type: ignore[no-untyped-def]
    m = XFAIL_RE.search(path.read_text())
    marks = [pytest.mark.xfail(reason=m.group(1), strict=True)] if m else []
    return pytest.param(path, id=path.stem, marks=marks)


def test_corpus_is_large_enough() -> None:
    assert len(FILES) >= 25


@pytest.mark.parametrize("path", [_param(p) for p in FILES])
def test_vipkeeper_check_agrees_with_keepalived(path: Path, keepalived_results) -> None:
    ka = keepalived_results[path.name]
    problems = disagreements(path, ka)
    assert problems == [], "\n".join(problems + ["keepalived -t said:", *ka.lines])
