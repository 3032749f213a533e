"""The wheel ships the daemon and nothing else: no lab, demo, bench or test code, and no
path into the repository it was built from.

Builds the wheel with pip (~5-20 s) from a copy of the working tree without build
artefacts: setuptools reuses ``build/lib`` in the source tree, so a stale file there (say,
a lab module from before it moved to ``lab/``) would otherwise land in the wheel.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[2]

# what a build must not see (artefacts, local state); everything else in the tree is copied
_NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis", "*.pyc"
)

# module or package names that belong to the repository's test/lab/demo/bench code
_NOT_RUNTIME = re.compile(r"^(tests?|conftest|test_.*|.*_test|lab|labnodes|pglab.*|demo|bench|fuzz|examples)$")
# the seed's old place beside the repository, and the build machine's checkout (spelled in
# two pieces, so that a grep of the repository for them finds none)
_OLD_SEED = "../" + "shared"
_BUILD_MACHINE = "/" + "work/"
# a string naming something outside the installed package: a parent directory, the build
# machine, or one of the repository's own top-level directories
_REPO_PATH = re.compile(
    r"\.\./|" + re.escape(_BUILD_MACHINE) + r"|(^|[\s\"'(=:])(src|tests|bench|lab|examples|docs|packaging)/"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    tree = tmp / "tree"
    shutil.copytree(ROOT, tree, ignore=_NOT_SOURCES, symlinks=True)
    out = tmp / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(tree)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (whl,) = out.glob("vipkeeper-*.whl")
    return whl


def _files(whl: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(whl) as z:
        return {name: z.read(name) for name in z.namelist() if not name.endswith("/")}


def test_wheel_holds_only_the_vipkeeper_package(wheel: Path) -> None:
    files = _files(wheel)
    dist_info = f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"
    assert {PurePosixPath(n).parts[0] for n in files} == {"vipkeeper", dist_info}, sorted(files)
    assert files[f"{dist_info}/top_level.txt"].split() == [b"vipkeeper"]
    py = [PurePosixPath(n) for n in files if n.endswith(".py")]
    for runtime in ("__init__.py", "core/node.py", "daemon/app.py", "cli/__init__.py", "config/load.py"):
        assert PurePosixPath("vipkeeper", runtime) in py, runtime
    for p in py:
        assert p.parts[0] == "vipkeeper", p
        for part in (*p.parts[1:-1], p.stem):
            assert not _NOT_RUNTIME.match(part), f"{p}: lab, demo, bench or test code in the wheel"


def _string_constants(tree: ast.AST) -> list[ast.Constant]:
    """String constants that are not docstrings."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    ]


def _uses_file(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "__file__" for n in ast.walk(node))


def _climbs_out(tree: ast.AST, depth: int) -> list[int]:
    """Lines where ``Path(__file__)`` climbs above the installed package (site-packages and
    up: where a repository checkout has its top level)."""
    lines = []
    for node in ast.walk(tree):
        # Path(__file__).parents[k]: the (k+1)-th directory up
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "parents"
            and _uses_file(node.value)
        ):
            k = node.slice.value if isinstance(node.slice, ast.Constant) else None
            if not isinstance(k, int) or k >= depth:
                lines.append(node.lineno)
        # Path(__file__).parent.parent...: n of them is parents[n - 1]
        if isinstance(node, ast.Attribute) and node.attr == "parent":
            n, inner = 0, node
            while isinstance(inner, ast.Attribute) and inner.attr == "parent":
                n, inner = n + 1, inner.value
            if n > depth and _uses_file(inner):
                lines.append(node.lineno)
    return lines


def test_wheel_has_no_path_into_a_repository(wheel: Path) -> None:
    files = _files(wheel)
    for name, data in files.items():
        # anywhere, the README in METADATA included: the old seed location, the build machine's
        assert _OLD_SEED.encode() not in data and _BUILD_MACHINE.encode() not in data, name
    for name, data in files.items():
        if not name.endswith(".py"):
            continue
        tree = ast.parse(data, filename=name)
        bad = [(c.lineno, c.value) for c in _string_constants(tree) if _REPO_PATH.search(c.value)]
        assert bad == [], f"{name}: repository-relative paths {bad}"
        depth = len(PurePosixPath(name).parts) - 1  # vipkeeper/x.py: 1, vipkeeper/core/y.py: 2
        assert _climbs_out(tree, depth) == [], f"{name}: Path(__file__) climbs out of the package"
