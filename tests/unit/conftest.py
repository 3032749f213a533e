"""Unit tests are hermetic: the parser's account lookups (keepalived drops a script whose user
does not exist, config.blocks.vrrp_script.account_exists) answer "exists" for every name
unless a test asks for the host's own answers with the ``real_accounts`` fixture, or patches
``account_exists`` itself."""

from __future__ import annotations

import pytest

from vipkeeper.config.blocks import vrrp_script


@pytest.fixture
def real_accounts() -> None:
    """The host's accounts, as ``keepalived -t`` sees them."""


@pytest.fixture(autouse=True)
def _hermetic_accounts(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "real_accounts" not in request.fixturenames:
        monkeypatch.setattr(vrrp_script, "account_exists", lambda user, group=None: True)
