# Copyright (c) mmalfm contributors. All rights reserved.
"""The contract between the multi-view transform and the region samplers.

A *region sampler* decides, for one image, which regions each view sees. It
is called by :class:`~mmalfm.datasets.transforms.MultiViewCrop` right after
the crops are drawn (before any pixel work) and may ask for new crops.

It returns :class:`~mmalfm.structures.Regions` (defined with the batched
record in :mod:`mmalfm.structures.region_batch`, re-exported here): one or
more :class:`~mmalfm.structures.RegionSet` (the regions one view sees, as ids
and boxes in **source-image pixels**, continuous corners — see
``docs/advanced_guides/geometry.md``), the ``pairs`` of sets whose regions
are matched, and typed per-image facts (``fallback``, ``no_overlap``,
``num_random``, ...; a sampler sets those it knows). Correspondence is **id
equality** between the two sets of a pair; negative ids are sentinels that
never match anything (e.g. SoCo's whole-view fallback box). The same id may
carry different boxes in the two sets (SoCo jitters the V1 copy only).
Mapping boxes into views, levels and correspondence matrices is the model's
job, batched, with :class:`~mmalfm.structures.RegionBatch`.
"""
from abc import ABCMeta, abstractmethod
from typing import Optional, Tuple

import numpy as np

from mmalfm.structures import Regions, RegionSet, ViewGeometry

__all__ = ['RegionSet', 'Regions', 'BaseRegionSampler']


class BaseRegionSampler(metaclass=ABCMeta):
    """Picks one image's regions from its view geometries (and proposals).

    Subclasses implement :meth:`sample`. They must draw randomness only from
    the ``rng`` they are given (the transform derives it from the data
    pipeline's seeded RNG, so runs and resumes are reproducible), and must
    not loop in Python over boxes where a vectorised numpy/torch expression
    does.
    """

    #: The transform passes the proposals of the image (``[P, 4]`` source
    #: boxes) when this is True; the image must then have a ``proposals``
    #: entry (see ``ProposalDataset``).
    needs_proposals: bool = False

    @abstractmethod
    def sample(self, geometry: ViewGeometry, img_shape: Tuple[int, int],
               rng: np.random.Generator, proposals: Optional[np.ndarray],
               attempt: int, last_attempt: bool) -> Optional[Regions]:
        """Choose the regions for one image.

        Args:
            geometry (ViewGeometry): The ``K`` drawn views, batch shape
                ``[K]`` (float64, CPU).
            img_shape (tuple[int, int]): Source image ``(h, w)``.
            rng (np.random.Generator): The only source of randomness.
            proposals (np.ndarray | None): ``[P, 4]`` float32 source boxes
                (already cleaned: inside the image, positive size), or None
                when :attr:`needs_proposals` is False.
            attempt (int): 0-based index of this draw of the views.
            last_attempt (bool): No redraw is possible after this one: the
                sampler must return :class:`Regions` (possibly with fallback
                or empty sets), never None.

        Returns:
            Regions | None: The regions, or None to ask for new crops.
        """
