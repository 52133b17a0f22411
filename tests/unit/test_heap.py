"""Start-up's objects are frozen out of the cyclic GC while serving, and given back after."""

from __future__ import annotations

import gc
import weakref

from routeur.heap import frozen_start_up


class Loaded:
    """Stands for what start-up loads (a model, the app): a tracked object."""


def test_what_exists_at_start_up_is_frozen_and_unfrozen_on_exit():
    loaded = Loaded()
    assert gc.get_freeze_count() == 0
    with frozen_start_up():
        assert gc.get_freeze_count() > 0
        assert not any(o is loaded for o in gc.get_objects())  # no generation holds it: full collections skip it
        made_later = Loaded()
        assert any(o is made_later for o in gc.get_objects())  # a turn's objects are collected as before
    assert gc.get_freeze_count() == 0
    assert any(o is loaded for o in gc.get_objects())


def test_garbage_present_at_start_up_is_collected_not_frozen():
    cycle = Loaded()
    cycle.self = cycle  # type: ignore[attr-defined]  # unreachable once dropped, freed only by the cyclic GC
    alive = weakref.ref(cycle)
    gc.disable()  # no automatic collection may free it before the freeze does
    try:
        del cycle
        assert alive() is not None
        with frozen_start_up():
            assert alive() is None
    finally:
        gc.enable()
