"""The worker's garbage-collector settings are applied and reversible."""

from __future__ import annotations

import gc

from ccpulse.runtime.gc_tuning import STREAMING_GC_THRESHOLDS, tune_gc_for_streaming


def test_streaming_thresholds_apply_and_the_previous_ones_come_back() -> None:
    before = gc.get_threshold()
    try:
        previous = tune_gc_for_streaming()
        assert previous == before
        assert gc.get_threshold() == STREAMING_GC_THRESHOLDS
        assert gc.get_freeze_count() > 0  # what existed at start-up is out of the collector's way
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
