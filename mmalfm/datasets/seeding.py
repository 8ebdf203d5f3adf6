# Copyright (c) mmalfm contributors. All rights reserved.
"""Per-sample random streams, so that an epoch-based resume is exact.

Why: MMEngine seeds each data-loader worker once (``seed + worker id +
rank``) and every augmentation then draws from that worker's global NumPy /
Python / torch generators. An epoch-based run resumed at epoch ``e`` starts
fresh workers, whose streams restart from the seed instead of continuing
where the interrupted run's workers were: weights, optimizer and sampler
order are restored, the crops and colour jitter are not. (Iteration-based
loops are exact already: MMEngine replays the loader up to the resumed
iteration.)

What: while an epoch-based loop runs, :class:`PerSampleSeedHook` publishes
``(seed, epoch)`` in shared memory (inherited by forked workers, including
persistent ones), and our datasets (:class:`SeededItemsMixin`) run each
``__getitem__`` -- the pipeline and MMEngine's re-fetch of another index
after a corrupt image -- under generators seeded from ``(seed, epoch,
index)``. Item ``i`` of epoch ``e`` is then a pure function of the config,
whatever the number of workers, the rank or an interruption before it. The
generators' previous states are restored afterwards.

Iteration-based loops (``InfiniteSampler``: one "epoch" for the whole run)
keep the worker streams, which are exact there and, unlike a fixed per-index
seed, give a new augmentation on every pass over the data.
"""
import multiprocessing
import random
from contextlib import contextmanager
from typing import Iterator, Optional, Tuple

import numpy as np
import torch

__all__ = [
    'SeededItemsMixin', 'set_data_epoch', 'data_epoch', 'sample_seed',
    'seeded_sample'
]

# Shared with forked data-loader workers (created before any fork).
_SEED = multiprocessing.Value('q', 0, lock=False)
_EPOCH = multiprocessing.Value('q', -1, lock=False)


def set_data_epoch(seed: Optional[int], epoch: Optional[int]) -> None:
    """Publish the run's ``seed`` and the current ``epoch``; ``epoch=None``
    turns per-sample seeding off (the default state)."""
    _SEED.value = int(seed or 0) & (2**63 - 1)
    _EPOCH.value = -1 if epoch is None else int(epoch)


def data_epoch() -> Optional[Tuple[int, int]]:
    """``(seed, epoch)`` while per-sample seeding is on, else None."""
    epoch = _EPOCH.value
    return None if epoch < 0 else (_SEED.value, epoch)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 64-bit seed for item ``index`` of ``epoch`` (NumPy's SeedSequence
    mixes the three, so neighbouring indices get unrelated streams)."""
    state = np.random.SeedSequence([seed, epoch, index]).generate_state(
        2, dtype=np.uint32)
    return int(state[0]) << 32 | int(state[1])


@contextmanager
def seeded_sample(index: int) -> Iterator[None]:
    """Run the body under NumPy / Python / torch generators seeded by
    :func:`sample_seed` (when seeding is on); restore them afterwards."""
    current = data_epoch()
    if current is None:
        yield
        return
    s = sample_seed(*current, index)
    np_state, py_state = np.random.get_state(), random.getstate()
    torch_state = torch.get_rng_state()
    np.random.seed(s & 0xFFFFFFFF)
    random.seed(s)
    torch.manual_seed(s)
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
        torch.set_rng_state(torch_state)


class SeededItemsMixin:
    """Dataset mixin: ``__getitem__`` under :func:`seeded_sample`.

    Put it before the dataset base class (``class D(SeededItemsMixin,
    BaseDataset)``).
    """

    def __getitem__(self, idx: int):
        with seeded_sample(int(idx)):
            return super().__getitem__(idx)
