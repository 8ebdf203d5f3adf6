# Copyright (c) mmalfm contributors. All rights reserved.
"""What the data decided about a batch of images, typed.

Per image (data pipeline, numpy, CPU) a region sampler returns
:class:`Regions`: the :class:`RegionSet`\\ s (which regions each view sees,
ids and **source-pixel** boxes), the ``pairs`` of sets matched by id
equality, and typed per-image facts (random top-ups, no overlap, fallback,
...). ``MultiViewCrop`` adds its local-patch sets and the number of draws,
and stores :meth:`Regions.to_dict` in the sample's metainfo (plain arrays,
cheap to pickle across dataloader workers).

Per batch (model side) :meth:`RegionBatch.build` turns the views and data
samples of one step into one :class:`RegionBatch` on the views' device,
once: the view geometry ``[N, K]``, the view shapes, one
:class:`RegionSetBatch` per set (ids padded with ``-1``, source and view
boxes), the pairs, the local sets and the per-image counters as tensors.
The model reads every data fact (pairs, windows, which views are local)
from it instead of restating it in its config.
"""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from .view_geometry import ViewGeometry, src_to_view

__all__ = ['RegionSet', 'Regions', 'RegionSetBatch', 'RegionBatch']


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
    """Everything the sampler and the transform decided for one image.

    The optional facts are None when the sampler does not report them (a
    batch counter exists only when every image reports it).

    Attributes:
        sets (list[RegionSet]): The region sets.
        pairs (list[tuple[int, int]]): Indices into ``sets`` of the sets
            whose regions are matched by id (directed as the method's loss
            wants; a loss may symmetrise).
        local_sets (list[int]): Indices into ``sets`` of the local-patch
            sets ``MultiViewCrop`` appends (``kind='region_crop'`` views).
        local_boxes (np.ndarray, optional): ``[R, 4]`` source boxes the
            local patches are cut from (row ``r`` = region id ``r``).
        attempts (int, optional): Draws of the views until the sampler
            accepted them (``MultiViewCrop``).
        fallback (bool, optional): The sampler fell back (SoCo: whole-view
            boxes; ALFM: random boxes topped up the proposals).
        no_overlap (bool, optional): The two views never overlapped enough:
            empty sets (DUPR, ALFM).
        overlap (float, optional): Overlap fraction of the two views.
        num_random (int, optional): Random boxes among the regions (ALFM).
        num_valid (int, optional): Key windows inside the key view
            (CrossCL).
        num_selected (list[int], optional): Proposal subset size per pair
            (SoCo).
        proposal_ids (np.ndarray, optional): ``[R]`` proposal index + 1 of
            each region, ``-1`` for random boxes (ALFM).
    """
    sets: List[RegionSet]
    pairs: List[Tuple[int, int]]
    local_sets: List[int] = field(default_factory=list)
    local_boxes: Optional[np.ndarray] = None
    attempts: Optional[int] = None
    fallback: Optional[bool] = None
    no_overlap: Optional[bool] = None
    overlap: Optional[float] = None
    num_random: Optional[int] = None
    num_valid: Optional[int] = None
    num_selected: Optional[List[int]] = None
    proposal_ids: Optional[np.ndarray] = None

    #: The per-image facts (every field but ``sets`` and ``pairs``).
    FACTS = ('local_sets', 'local_boxes', 'attempts', 'fallback',
             'no_overlap', 'overlap', 'num_random', 'num_valid',
             'num_selected', 'proposal_ids')

    def facts(self) -> Dict[str, Any]:
        """The facts that are set (``local_sets`` when not empty)."""
        return {
            k: getattr(self, k)
            for k in self.FACTS
            if getattr(self, k) is not None and not (
                k == 'local_sets' and not self.local_sets)
        }

    def to_dict(self) -> Dict[str, Any]:
        """Plain arrays/lists for a data sample: ``views [S]``, ``ids`` and
        ``boxes`` (one array per set), ``pairs [Q, 2]`` and ``info`` (the
        set facts, which visualisation tools print)."""
        return dict(
            views=np.array([s.view for s in self.sets], dtype=np.int64),
            ids=[s.ids for s in self.sets],
            boxes=[s.boxes for s in self.sets],
            pairs=np.array(self.pairs, dtype=np.int64).reshape(-1, 2),
            info=self.facts())

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'Regions':
        """Inverse of :meth:`to_dict`."""
        info = dict(data.get('info') or {})
        unknown = set(info) - set(cls.FACTS)
        if unknown:
            raise KeyError(f'regions info has unknown facts {sorted(unknown)}'
                           f'; known: {cls.FACTS}')
        sets = [
            RegionSet(int(v), ids, boxes) for v, ids, boxes in zip(
                np.asarray(data['views']).reshape(-1), data['ids'],
                data['boxes'])
        ]
        pairs = [tuple(int(x) for x in p)
                 for p in np.asarray(data['pairs']).reshape(-1, 2)]
        info['local_sets'] = [int(s) for s in info.get('local_sets', [])]
        return cls(sets, pairs, **info)


@dataclass
class RegionSetBatch:
    """One region set of every image of the batch.

    Attributes:
        index (int): Index of the set in ``Regions.sets``.
        view (int): The view the set belongs to.
        ids (Tensor): ``[N, M]`` int64 region ids; ``-1`` pads images with
            fewer regions (negative ids never match).
        src_boxes (Tensor): ``[N, M, 4]`` boxes in source pixels.
        boxes (Tensor): ``[N, M, 4]`` the same boxes in view pixels
            (``src_to_view``, flip applied; unclipped).
    """
    index: int
    view: int
    ids: Tensor
    src_boxes: Tensor
    boxes: Tensor


#: Per-image counters of :class:`RegionBatch`: (fact, dtype).
COUNTERS = (('attempts', torch.int64), ('fallback', torch.bool),
            ('no_overlap', torch.bool), ('num_random', torch.int64))


@dataclass
class RegionBatch:
    """Everything the data decided about one batch of ``N`` images.

    Attributes:
        geometry (ViewGeometry): Batch shape ``[N, K]``.
        view_shapes (list[tuple[int, int]]): ``(h, w)`` of each view.
        sets (list[RegionSetBatch]): One entry per region set (empty
            without a region sampler).
        pairs (list[tuple[int, int]]): Indices into ``sets`` of the matched
            sets (the sampler's pairs).
        local_sets (list[int]): Indices into ``sets`` of the local-patch
            sets (``MultiViewCrop(kind='region_crop')``).
        attempts (Tensor, optional): ``[N]`` int64 draws of the views.
        fallback (Tensor, optional): ``[N]`` bool sampler fallbacks.
        no_overlap (Tensor, optional): ``[N]`` bool images without regions
            because the views did not overlap.
        num_random (Tensor, optional): ``[N]`` int64 random top-up boxes.

    A counter is None unless every image's sampler reports it.
    """
    geometry: ViewGeometry
    view_shapes: List[Tuple[int, int]]
    sets: List[RegionSetBatch] = field(default_factory=list)
    pairs: List[Tuple[int, int]] = field(default_factory=list)
    local_sets: List[int] = field(default_factory=list)
    attempts: Optional[Tensor] = None
    fallback: Optional[Tensor] = None
    no_overlap: Optional[Tensor] = None
    num_random: Optional[Tensor] = None

    # ------------------------------------------------------------ building
    @classmethod
    def build(cls, views: Sequence[Tensor],
              data_samples: Sequence[Any]) -> 'RegionBatch':
        """The batch of one training step, on the device of the views.

        Args:
            views (Sequence[Tensor]): ``K`` views, each ``[N, C, h_k, w_k]``.
            data_samples (Sequence): ``N`` data samples whose metainfo has
                ``view_geometry`` and, with a region sampler, ``regions``
                (``Regions.to_dict()``).

        Raises:
            ValueError: The geometry does not have the ``K`` views, or the
                images of the batch have different sets, pairs or local
                sets (one region sampler per dataset).
        """
        device = views[0].device
        geometry = ViewGeometry.collate(
            [ds.metainfo['view_geometry'] for ds in data_samples],
            device=device)
        if geometry.batch_shape[1] != len(views):
            raise ValueError(f'{len(views)} views in the batch but the view '
                             f'geometry has {geometry.batch_shape[1]}')
        out = cls(geometry, [tuple(v.shape[-2:]) for v in views])
        metas = [ds.metainfo.get('regions') for ds in data_samples]
        if not metas or any(m is None for m in metas):
            return out
        regions = [Regions.from_dict(m) for m in metas]
        first = regions[0]
        layout = ([s.view for s in first.sets], first.pairs, first.local_sets)
        for r in regions[1:]:
            other = ([s.view for s in r.sets], r.pairs, r.local_sets)
            if other != layout:
                raise ValueError(
                    'RegionBatch: the images of a batch have different '
                    f'region sets/pairs/local sets ({layout} vs {other}); '
                    'use one region sampler per dataset')
        out.sets = [
            cls._batch_set(s, [r.sets[s] for r in regions], geometry)
            for s in range(len(first.sets))
        ]
        out.pairs, out.local_sets = list(first.pairs), list(first.local_sets)
        for name, dtype in COUNTERS:
            values = [getattr(r, name) for r in regions]
            if all(v is not None for v in values):
                setattr(out, name,
                        torch.tensor(values, dtype=dtype, device=device))
        return out

    @staticmethod
    def _batch_set(index: int, sets: List[RegionSet],
                   geometry: ViewGeometry) -> RegionSetBatch:
        """Pad one set of every image to ``[N, M]`` (id ``-1``)."""
        n, size = len(sets), max(len(s) for s in sets)
        ids = np.full((n, size), -1, np.int64)
        boxes = np.zeros((n, size, 4), np.float32)
        for i, s in enumerate(sets):
            ids[i, :len(s)] = s.ids
            boxes[i, :len(s)] = s.boxes
        device = geometry.device
        src = torch.from_numpy(boxes).to(device)
        view = sets[0].view
        return RegionSetBatch(index, view,
                              torch.from_numpy(ids).to(device), src,
                              src_to_view(src, geometry[:, view]))

    # ------------------------------------------------------------- queries
    @property
    def num_views(self) -> int:
        """``K``."""
        return len(self.view_shapes)

    @property
    def local_views(self) -> List[int]:
        """The views of the local-patch sets, in set order."""
        return [self.sets[s].view for s in self.local_sets]

    @property
    def context_views(self) -> List[int]:
        """The views that are not local patches."""
        local = set(self.local_views)
        return [k for k in range(self.num_views) if k not in local]

    @property
    def pair_sets(self) -> List[int]:
        """The sets of the pairs, sorted."""
        return sorted({s for p in self.pairs for s in p})

    @property
    def pair_views(self) -> List[int]:
        """The views of the pairs' sets, sorted."""
        return sorted({self.sets[s].view for s in self.pair_sets})

    def require_pairs(self, method: str, sampler: str,
                      num: Optional[int] = None) -> None:
        """Raise unless the batch has region pairs (exactly ``num`` if
        given), naming the method and the sampler to add."""
        if self.pairs and (num is None or len(self.pairs) == num):
            return
        want = 'region pairs' if num is None else f'{num} region pair(s)'
        raise ValueError(
            f'{method} needs {want} but the batch has {len(self.pairs)} '
            f'({len(self.sets)} region sets, {self.num_views} views). Add '
            f'region_sampler=dict(type="{sampler}") to MultiViewCrop in the '
            'train pipeline.')

    def only_pair(self, method: str,
                  sampler: str) -> Tuple[RegionSetBatch, RegionSetBatch]:
        """The two sets of the batch's single pair (raises otherwise)."""
        self.require_pairs(method, sampler, num=1)
        a, b = self.pairs[0]
        return self.sets[a], self.sets[b]

    def counts(self) -> Dict[str, Tensor]:
        """The counters that are set, as ``{name: [N] tensor}``."""
        return {
            name: getattr(self, name)
            for name, _ in COUNTERS if getattr(self, name) is not None
        }
