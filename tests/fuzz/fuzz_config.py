#!/usr/bin/env python3
"""atheris (libFuzzer) target: the keepalived.conf parser.

    pip install atheris
    python tests/fuzz/fuzz_config.py -atheris_runs=200000 [-max_len=4096] [CORPUS_DIR ...]

Without a corpus directory a temporary one is seeded with tests/unit/configs/{valid,broken}.
Each input is the bytes of a configuration file.  ``parse_string`` (the text) and ``parse_file``
(the bytes, on disk) may only return diagnostics, each located as ``FILE:LINE: severity:``;
``load_config`` may only raise ConfigError.  Anything else is a crash libFuzzer saves.

Not part of ``make test``; tests/unit/test_fuzz_targets.py runs TestOneInput on the seeds.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for p in (str(ROOT), str(ROOT / "src")):
    if p not in sys.path:
        sys.path.insert(0, p)

try:
    import atheris
except ImportError:
    atheris = None

with atheris.instrument_imports() if atheris else contextlib.nullcontext():
    from vipkeeper.config.load import load_config, parse_file, parse_string
    from vipkeeper.config.model import Config
    from vipkeeper.errors import ConfigError

CONFIGS = ROOT / "tests" / "unit" / "configs"
_workdir: str | None = None


def _check_diagnostics(config: object, diagnostics: list) -> None:
    assert isinstance(config, Config), type(config)
    for d in diagnostics:
        assert d.severity in ("error", "warning"), d
        # a mutation can spell 'include /some/real/file': diagnostics may name that file
        assert isinstance(d.file, str) and d.file, d
        assert isinstance(d.line, int) and d.line >= 1, d
        assert str(d).startswith(f"{d.file}:{d.line}: {d.severity}: "), str(d)
        assert "\n" not in str(d), repr(str(d))  # one line per diagnostic


def TestOneInput(data: bytes) -> None:
    global _workdir
    text = data.decode("utf-8", errors="surrogateescape")
    config, diagnostics = parse_string(text, path="fuzz.conf", config_id="host")
    _check_diagnostics(config, diagnostics)
    if _workdir is None:
        _workdir = tempfile.mkdtemp(prefix="vipkeeper-fuzz-config-")
        atexit.register(shutil.rmtree, _workdir, True)  # libFuzzer exits the process
    path = os.path.join(_workdir, "keepalived.conf")
    with open(path, "wb") as f:
        f.write(data)
    config, diagnostics = parse_file(path, config_id="host")
    _check_diagnostics(config, diagnostics)
    try:
        load_config(path, config_id="host")
    except ConfigError as err:
        assert err.file and err.line >= 0, err


def seed_inputs() -> list[bytes]:
    return [p.read_bytes() for sub in ("valid", "broken") for p in sorted((CONFIGS / sub).glob("*.conf"))]


def main(argv: list[str]) -> None:
    if atheris is None:
        sys.exit("atheris is not installed: pip install atheris")
    if not [a for a in argv[1:] if not a.startswith("-")]:
        corpus = tempfile.mkdtemp(prefix="vipkeeper-fuzz-config-corpus-")
        for i, seed in enumerate(seed_inputs()):
            Path(corpus, f"seed-{i:03d}").write_bytes(seed)
        argv = [*argv, corpus]
        print(f"corpus: {corpus}", file=sys.stderr)
    atheris.Setup(argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
