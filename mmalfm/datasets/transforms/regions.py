# Copyright (c) mmalfm contributors. All rights reserved.
"""The contract between the multi-view transform and the region samplers.

A *region sampler* decides, for one image, which regions each view sees. It
is called by :class:`~mmalfm.datasets.transforms.MultiViewCrop` right after
the crops are drawn (before any pixel work) and may ask for new crops.

It returns :class:`Regions`: one or more :class:`RegionSet` (the regions one
view sees, as ids and boxes in **source-image pixels**, continuous corners
— see ``docs/advanced_guides/geometry.md``) and the ``pairs`` of sets whose
regions are matched. Correspondence is **id equality** between the two sets
of a pair; negative ids are sentinels that never match anything (e.g. SoCo's
whole-view fallback box). The same id may carry different boxes in the two
sets (SoCo jitters the V1 copy only). Mapping boxes into views, levels and
correspondence matrices is the model's job, batched, with
:mod:`mmalfm.structures`.
"""
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from mmalfm.structures import ViewGeometry

__all__ = ['RegionSet', 'Regions', 'BaseRegionSampler']


@dataclass
class RegionSet:
    """The regions one view sees.

    Attributes:
        view (int): Index of the view (into the transform's view list).
        ids (np.ndarray): ``[M]`` int64 region ids; negative = never matches.
        boxes (np.ndarray): ``[M, 4]`` float32 ``(x1, y1, x2, y2)`` in
            source-image pixels.
    """
    view: int
    ids: np.ndarray
    boxes: np.ndarray

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids, dtype=np.int64).reshape(-1)
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        if len(self.ids) != len(self.boxes):
            raise ValueError(f'RegionSet of view {self.view}: {len(self.ids)} '
                             f'ids but {len(self.boxes)} boxes')

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Regions:
    """Everything a sampler decided for one image.

    Attributes:
        sets (list[RegionSet]): The region sets.
        pairs (list[tuple[int, int]]): Indices into ``sets`` of the sets
            whose regions are matched by id (directed as the method's loss
            wants; a loss may symmetrise).
        info (dict): Per-image facts worth logging (e.g. ``fallback=True``
            when no proposal survived, ``tries=3``).
    """
    sets: List[RegionSet]
    pairs: List[Tuple[int, int]]
    info: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        """Plain arrays/lists for a data sample."""
        return dict(
            views=np.array([s.view for s in self.sets], dtype=np.int64),
            ids=[s.ids for s in self.sets],
            boxes=[s.boxes for s in self.sets],
            pairs=np.array(self.pairs, dtype=np.int64).reshape(-1, 2),
            info=dict(self.info))


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
