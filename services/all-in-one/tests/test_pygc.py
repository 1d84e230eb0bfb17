"""The collector settings a server runs with."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from registry_server.pygc import FIRST_THRESHOLD, tune_for_serving


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_start_up_objects_are_frozen_and_batches_do_not_start_collections() -> None:
    _, second, third = gc.get_threshold()
    tune_for_serving()
    assert gc.get_freeze_count() > 1000  # the modules and objects imported so far
    assert gc.get_threshold() == (FIRST_THRESHOLD, second, third)
