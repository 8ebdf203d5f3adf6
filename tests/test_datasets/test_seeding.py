# Copyright (c) mmalfm contributors. All rights reserved.
"""Per-sample random streams (mmalfm.datasets.seeding)."""
import random

import numpy as np
import pytest
import torch

from mmalfm.datasets.seeding import (SeededItemsMixin, data_epoch,
                                     sample_seed, seeded_sample,
                                     set_data_epoch)


class _Base:

    def __getitem__(self, idx):
        return (np.random.rand(), random.random(), torch.rand(()).item())


class _Items(SeededItemsMixin, _Base):
    pass


@pytest.fixture
def epoch_on():
    set_data_epoch(7, 3)
    yield
    set_data_epoch(None, None)


def test_off_by_default_leaves_the_global_streams_alone():
    assert data_epoch() is None
    np.random.seed(0)
    a = _Items()[5]
    np.random.seed(0)
    assert _Items()[5][0] == a[0]
    assert np.random.rand() != a[0]  # the stream advanced


def test_item_is_a_function_of_seed_epoch_index(epoch_on):
    items = _Items()
    first = items[5]
    np.random.rand(), random.random(), torch.rand(())  # other draws between
    assert items[5] == first
    assert items[6] != first
    set_data_epoch(7, 4)
    assert items[5] != first
    set_data_epoch(8, 3)
    assert items[5] != first


def test_global_streams_are_restored(epoch_on):
    np.random.seed(1)
    random.seed(1)
    torch.manual_seed(1)
    expected = (np.random.rand(), random.random(), torch.rand(()).item())
    np.random.seed(1)
    random.seed(1)
    torch.manual_seed(1)
    _Items()[3]
    assert (np.random.rand(), random.random(),
            torch.rand(()).item()) == expected


def test_sample_seed_is_stable_and_64_bit():
    assert sample_seed(0, 0, 0) == sample_seed(0, 0, 0)
    assert len({sample_seed(0, 0, i) for i in range(100)}) == 100
    assert 0 <= sample_seed(2**62, 10**6, 10**9) < 2**64
    with seeded_sample(0):  # off: a no-op
        pass
