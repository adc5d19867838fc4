"""Every test here that opens the ``db`` fixture runs on both backends."""

from __future__ import annotations

import pytest

from tests.support.postgres import both_backends


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    both_backends(metafunc)
