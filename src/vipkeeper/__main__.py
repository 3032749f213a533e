"""``python -m vipkeeper``: the same as the ``vipkeeper`` command."""

from vipkeeper.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
