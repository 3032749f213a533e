"""Fixtures for tests that build network-namespace labs.

``make_lab(hosts=("A", "B"), **Lab kwargs)`` builds a :class:`lab.netns.Lab` that is
closed after the test, also when the test fails. Every test using it needs root and
iproute2: without them it is skipped locally and fails when CI=true
(see :func:`tests.conftest.require_netns`). Mark modules with ``pytestmark = pytest.mark.netns``.
"""

from __future__ import annotations

import pytest

from lab import netns as lablib
from tests.conftest import require_netns


@pytest.fixture(scope="session")
def lab_registry():
    """Namespaces created by this session; at the end none of them may be left."""
    require_netns()
    lablib.cleanup_stale()  # only runs whose creator process is dead
    created: list[str] = []
    yield created
    leaked = sorted(set(created) & lablib.netns_names())
    if leaked:
        pytest.fail(f"network namespaces left behind by this session: {leaked}", pytrace=False)


@pytest.fixture
def make_lab(lab_registry):
    """Factory: ``make_lab(hosts=("A", "B"), addrs4=None, ipv6=True, observer=True)``."""
    labs: list[lablib.Lab] = []

    def factory(hosts=("A", "B"), **kw) -> lablib.Lab:
        lab = lablib.Lab(hosts, **kw)
        labs.append(lab)
        lab_registry.extend(lab.namespaces)
        return lab

    yield factory
    errors = []
    for lab in reversed(labs):
        try:
            lab.close()
        except Exception as exc:  # close the others anyway
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def lab(make_lab) -> lablib.Lab:
    """A default lab: hosts A and B plus the observer."""
    return make_lab()
