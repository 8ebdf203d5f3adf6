# Copyright (c) mmalfm contributors. All rights reserved.
"""The one geometric multi-view transform, and per-view photometrics.

:class:`MultiViewCrop` draws every view's crop rectangle, output size and
flip (a :class:`~mmalfm.structures.ViewGeometry`), lets a region sampler
accept or reject the draw, then cuts the pixels once per view.
:class:`ViewPipelines` runs a photometric pipeline on each view and refuses
geometric transforms, so the recorded geometry always describes the pixels.
"""
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
from mmcv.image.geometric import cv2_interp_codes, pillow_interp_codes
from mmcv.transforms import BaseTransform, Compose

from mmalfm.registry import TASK_UTILS, TRANSFORMS
from mmalfm.structures import ViewGeometry
from .regions import BaseRegionSampler, Regions, RegionSet

__all__ = ['MultiViewCrop', 'ViewPipelines', 'random_resized_crop_params',
           'clean_proposals']

VIEW_KINDS = ('resized_crop', 'whole', 'resize_of', 'region_crop')
SizeCfg = Union[int, Sequence[int]]


# ---------------------------------------------------------------- sampling
def random_resized_crop_params(rng: np.random.Generator,
                               img_hw: Tuple[int, int],
                               num: int,
                               scale: Tuple[float, float] = (0.08, 1.0),
                               ratio: Tuple[float, float] = (3 / 4, 4 / 3),
                               max_attempts: int = 10) -> np.ndarray:
    """torchvision's ``RandomResizedCrop.get_params``, for ``num`` crops.

    mmpretrain's ``RandomResizedCrop.rand_crop_params`` implements the same
    algorithm but draws from the *global* ``np.random`` state (and is wrapped
    by ``cache_randomness``, and needs an image); we need one
    ``np.random.Generator`` per sample that the region sampler shares, so
    this is a vectorised copy: all ``max_attempts`` tries of all ``num``
    crops are drawn at once, the first valid try of each crop is kept
    (attempts are i.i.d., so this has the sequential algorithm's
    distribution), and crops with no valid try fall back to the central
    crop of the nearest allowed aspect ratio (or the whole image).

    Args:
        rng (np.random.Generator): Source of randomness.
        img_hw (tuple[int, int]): Image ``(H, W)``.
        num (int): Number of independent crops.
        scale (tuple[float, float]): Range of the crop area, as a fraction
            of the image area.
        ratio (tuple[float, float]): Range of the aspect ratio ``w / h``
            (sampled log-uniformly).
        max_attempts (int): Tries before the central fallback.

    Returns:
        np.ndarray: ``[num, 4]`` int64 ``(top, left, height, width)`` --
        torchvision order, see :meth:`ViewGeometry.from_ijhw`.
    """
    h, w = img_hw
    area = h * w
    target_area = rng.uniform(scale[0], scale[1], (num, max_attempts)) * area
    aspect = np.exp(
        rng.uniform(math.log(ratio[0]), math.log(ratio[1]),
                    (num, max_attempts)))
    # np.rint rounds half to even, exactly like Python 3's round()
    tw = np.rint(np.sqrt(target_area * aspect)).astype(np.int64)
    th = np.rint(np.sqrt(target_area / aspect)).astype(np.int64)
    valid = (tw > 0) & (tw <= w) & (th > 0) & (th <= h)
    first = valid.argmax(axis=1)
    rows = np.arange(num)
    tw, th = tw[rows, first], th[rows, first]
    found = valid.any(axis=1)
    fb_h, fb_w = _central_fallback(h, w, ratio)
    th = np.where(found, th, fb_h)
    tw = np.where(found, tw, fb_w)
    top = np.where(found, rng.integers(0, h - th + 1), (h - th) // 2)
    left = np.where(found, rng.integers(0, w - tw + 1), (w - tw) // 2)
    return np.stack([top, left, th, tw], axis=1).astype(np.int64)


def _central_fallback(h: int, w: int,
                      ratio: Tuple[float, float]) -> Tuple[int, int]:
    """torchvision's fallback crop ``(height, width)``."""
    in_ratio = w / h
    if in_ratio < min(ratio):
        return int(round(w / min(ratio))), w
    if in_ratio > max(ratio):
        return h, int(round(h * max(ratio)))
    return h, w


def clean_proposals(proposals: Any, img_hw: Tuple[int, int]) -> np.ndarray:
    """Clip source boxes to the image and drop empty or non-finite ones.

    Args:
        proposals (array-like): ``[P, 4]`` ``(x1, y1, x2, y2)`` source boxes.
        img_hw (tuple[int, int]): Image ``(H, W)``.

    Returns:
        np.ndarray: ``[P', 4]`` float32 boxes inside ``[0, W] x [0, H]``
        with positive width and height.
    """
    boxes = np.asarray(proposals, dtype=np.float32).reshape(-1, 4)
    h, w = img_hw
    boxes = np.clip(boxes, 0, np.array([w, h, w, h], dtype=np.float32))
    keep = np.isfinite(boxes).all(1) & (boxes[:, 2] > boxes[:, 0]) & \
        (boxes[:, 3] > boxes[:, 1])
    return np.ascontiguousarray(boxes[keep])


# ------------------------------------------------------------ view specs
@dataclass
class _ViewSpec:
    """One parsed entry of ``views`` (before ``num`` expansion)."""
    kind: str
    size: Tuple[int, int]  # (w, h)
    flip_prob: float
    num: int
    scale: Tuple[float, float]
    ratio: Tuple[float, float]
    source: int
    region_set: int
    margin: float
    interpolation: Optional[str]


def _parse_size(size: SizeCfg, where: str) -> Tuple[int, int]:
    """``224`` -> ``(224, 224)``; ``(w, h)`` kept (width first)."""
    if isinstance(size, int):
        size = (size, size)
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f'{where}: size must be a positive int or (w, h), '
                         f'got {size}')
    return size


def _parse_view(cfg: dict, index: int) -> _ViewSpec:
    """Validate one ``views`` entry."""
    where = f'MultiViewCrop views[{index}]'
    cfg = dict(cfg)
    kind = cfg.pop('kind', None)
    if kind not in VIEW_KINDS:
        raise ValueError(f'{where}: kind must be one of {VIEW_KINDS}, '
                         f'got {kind!r}')
    spec = _ViewSpec(
        kind=kind,
        size=_parse_size(cfg.pop('size', 224), where),
        flip_prob=float(cfg.pop('flip_prob', 0.5)),
        num=int(cfg.pop('num', 1)),
        scale=tuple(cfg.pop('scale', (0.08, 1.0))),
        ratio=tuple(cfg.pop('ratio', (3 / 4, 4 / 3))),
        source=int(cfg.pop('source', -1)),
        region_set=int(cfg.pop('region_set', 0)),
        margin=float(cfg.pop('margin', 0.0)),
        interpolation=cfg.pop('interpolation', None))
    if cfg:
        raise ValueError(f'{where}: unknown keys {sorted(cfg)} for kind '
                         f'{kind!r}')
    if spec.num < 1 or not 0 <= spec.flip_prob <= 1:
        raise ValueError(f'{where}: need num >= 1 and 0 <= flip_prob <= 1')
    if not (0 < spec.scale[0] <= spec.scale[1]
            and 0 < spec.ratio[0] <= spec.ratio[1]):
        raise ValueError(f'{where}: scale and ratio must be increasing '
                         f'positive ranges, got {spec.scale}, {spec.ratio}')
    return spec


def _build_sampler(cfg: Union[dict, BaseRegionSampler, None]
                   ) -> Optional[BaseRegionSampler]:
    """Build a region sampler from TASK_UTILS (or TRANSFORMS as fallback)."""
    if cfg is None or not isinstance(cfg, dict):
        sampler = cfg
    else:
        type_ = cfg.get('type')
        if isinstance(type_, type):
            args = {k: v for k, v in cfg.items() if k != 'type'}
            sampler = type_(**args)
        elif TASK_UTILS.get(type_) is not None:
            sampler = TASK_UTILS.build(cfg)
        elif TRANSFORMS.get(type_) is not None:
            sampler = TRANSFORMS.build(cfg)
        else:
            raise KeyError(
                f'Region sampler {type_!r} is registered neither in the '
                'TASK_UTILS nor in the TRANSFORMS registry of mmalfm. Check '
                'the name, or import the module that registers it '
                '(custom_imports).')
    if sampler is not None and not callable(getattr(sampler, 'sample', None)):
        raise TypeError(f'region_sampler must implement BaseRegionSampler.'
                        f'sample, got {type(sampler).__name__}')
    return sampler


@TRANSFORMS.register_module()
class MultiViewCrop(BaseTransform):
    """Draw K views of one image, with their geometry and regions.

    Each view is a crop rectangle of the **source** image (integer pixel
    corners), resized to its own ``size`` and optionally flipped
    horizontally; the transform records exactly that as a
    :class:`~mmalfm.structures.ViewGeometry` (see
    ``docs/advanced_guides/geometry.md``) and nothing method-specific.

    **View kinds** (entries of ``views``; ``size`` is an int or
    ``(w, h)``, **width first**, unlike mmpretrain's ``scale=(h, w)``;
    each may set ``flip_prob`` (default 0.5), ``interpolation`` and
    ``num`` (repeat the entry ``num`` times, e.g. ALFM's local crops)):

    * ``dict(kind='resized_crop', size=224, scale=(0.08, 1.), ratio=(3/4,
      4/3))``: torchvision's RandomResizedCrop parameters (10 tries, then
      the central fallback), see :func:`random_resized_crop_params`.
    * ``dict(kind='whole', size=224)``: the whole image, aspect not kept
      (SoCo V1).
    * ``dict(kind='resize_of', source=1, size=112)``: the same source crop
      as view ``source`` (an index into the **expanded** view list, an
      earlier non-region view) with its own size and flip: SoCo* V4, or
      SoCo's paper-mode V3. The crop is resized once from the source pixels
      (SoCo's code resizes the 224-px V2 image again: same geometry,
      slightly different interpolation).
    * ``dict(kind='region_crop', size=96, margin=0.)``: a tight crop of a
      region chosen by the sampler (ALFM's local patches). The crops are
      ``regions.local_boxes`` (``[N, 4]`` source boxes, row ``r`` =
      region id ``r``) or, if the sampler gives none, the boxes and ids of
      ``regions.sets[region_set]`` (``region_set=0`` by default). The i-th
      region-crop view takes box ``i mod N``, enlarged by ``margin`` times
      its size on each side and rounded outwards to whole pixels; with no
      box at all it is a whole-image crop. Region-crop views must come
      after all other views: the sampler sees only the others ("drawn")
      views. For each region-crop view the transform appends a
      :class:`RegionSet` (``view`` = that view, ``ids = [r]``, ``boxes`` =
      the region's source box; empty without a box) to ``regions.sets``
      and its index to ``regions.local_sets``; it adds **no**
      pairs (pairs are the sampler's decision). The region box of a local
      view in its own pixels is its whole view (``geom.view_box``).

    **Flips.** ``flip='independent'``: each view flips with its own
    ``flip_prob``. ``flip='shared'`` (CrossCL): one Bernoulli decision with
    the views' common ``flip_prob`` flips the *source* before cropping; the
    crops are drawn in the flipped image and recorded with
    :meth:`ViewGeometry.from_flipped_source_crop` (mirrored source
    rectangle, ``flip=True``).

    **Region sampler.** ``region_sampler`` is a
    :class:`~mmalfm.datasets.transforms.regions.BaseRegionSampler` or its
    config, looked up in the ``TASK_UTILS`` registry (where
    ``mmalfm.datasets.transforms.samplers`` registers them), then in
    ``TRANSFORMS``. For ``attempt = 0 .. max_tries - 1``: draw all views,
    call ``sampler.sample(geometry, (H, W), rng, proposals, attempt,
    last_attempt)`` (``geometry``: the drawn views, batch ``[K_drawn]``,
    float64, CPU); None asks for a new draw, and None on the last attempt
    is an error. The number of draws is written to
    ``regions.attempts``. Pixels are cut once, for the accepted
    draw. When
    ``sampler.needs_proposals`` the image must carry ``proposals``
    (``[P, 4]`` source boxes, from ``ProposalDataset``); they are clipped
    to the image and empty boxes dropped before the sampler sees them.

    **Randomness.** Each call draws a seed from the global ``np.random``
    (seeded per dataloader worker by MMEngine) and uses one
    ``np.random.Generator`` for crops, flips and the sampler.

    **Required keys:** ``img`` (``[H, W, C]``), ``img_path`` (messages),
    ``proposals`` (if the sampler needs them). **Modified keys:** ``img``
    (list of K ``[h_k, w_k, C]`` uint8 views), ``img_shape`` (list of
    ``(h_k, w_k)``). **Added keys:** ``view_geometry``
    (``ViewGeometry.stack(views).to_dict()``, batch shape ``[K]``: crop in
    source pixels, ``out_size`` ``(w, h)``, flip), ``regions``
    (``Regions.to_dict()``, only with a sampler), ``ori_shape`` (kept, or
    the source ``(H, W)``).

    Args:
        views (list[dict]): The view kinds, in output order (see above).
        flip (str): ``'independent'`` or ``'shared'``.
        region_sampler (dict | BaseRegionSampler, optional): See above.
        max_tries (int): Draws offered to the sampler. Defaults to 5.
        interpolation (str): Default resize interpolation, ``'bilinear'``
            or ``'bicubic'`` (any mmcv name for the backend works).
        backend (str): Resize backend, ``'cv2'`` or ``'pillow'``.

    Example:
        >>> # SoCo* (4 views): V1 whole, V2 224, V3 192, V4 = V2 at 112
        >>> t = MultiViewCrop(views=[
        ...     dict(kind='whole', size=224),
        ...     dict(kind='resized_crop', size=224, scale=(0.5, 1.)),
        ...     dict(kind='resized_crop', size=192, scale=(0.5, 1.)),
        ...     dict(kind='resize_of', source=1, size=112)],
        ...     region_sampler=dict(type='SoCoRegionSampler'))
        >>> # CrossCL: two 224 crops of the once-flipped source
        >>> t = MultiViewCrop(views=[dict(kind='resized_crop', size=224,
        ...                               scale=(0.2, 1.), num=2)],
        ...                   flip='shared',
        ...                   region_sampler=dict(type='CrossCLWindowSampler'))
        >>> # ALFM: two global views + 4 tight 96-px crops of the regions
        >>> t = MultiViewCrop(views=[
        ...     dict(kind='resized_crop', size=224, scale=(0.3, 1.), num=2),
        ...     dict(kind='region_crop', size=96, num=4)],
        ...     region_sampler=dict(type='ALFMRegionSampler'))
    """

    def __init__(self,
                 views: Sequence[dict],
                 flip: str = 'independent',
                 region_sampler: Union[dict, BaseRegionSampler,
                                       None] = None,
                 max_tries: int = 5,
                 interpolation: str = 'bilinear',
                 backend: str = 'cv2') -> None:
        if not views:
            raise ValueError('MultiViewCrop needs at least one view')
        if flip not in ('independent', 'shared'):
            raise ValueError(f"flip must be 'independent' or 'shared', got "
                             f'{flip!r}')
        if max_tries < 1:
            raise ValueError(f'max_tries must be >= 1, got {max_tries}')
        codes = cv2_interp_codes if backend == 'cv2' else pillow_interp_codes
        if backend not in ('cv2', 'pillow'):
            raise ValueError(f"backend must be 'cv2' or 'pillow', got "
                             f'{backend!r}')
        self.specs = [_parse_view(v, i) for i, v in enumerate(views)]
        self.flip = flip
        self.max_tries = max_tries
        self.interpolation = interpolation
        self.backend = backend
        # one entry per output view
        self.expanded: List[_ViewSpec] = [
            s for s in self.specs for _ in range(s.num)
        ]
        for s in self.expanded:
            interp = s.interpolation or interpolation
            if interp not in codes:
                raise ValueError(f'interpolation {interp!r} is not supported'
                                 f' by the {backend} backend: use one of '
                                 f'{sorted(codes)}')
        self.num_drawn = self._check_layout()
        self.region_sampler = _build_sampler(region_sampler)
        if any(s.kind == 'region_crop' for s in self.expanded) and \
                self.region_sampler is None:
            raise ValueError("kind='region_crop' views need a region_sampler")
        if flip == 'shared':
            probs = {s.flip_prob for s in self.specs}
            if len(probs) != 1:
                raise ValueError(
                    "flip='shared' flips the source once for all views: "
                    f'give every view the same flip_prob, got {probs}')
            self.shared_flip_prob = probs.pop()

    def _check_layout(self) -> int:
        """Validate view order / sources; return the number of drawn views."""
        kinds = [s.kind for s in self.expanded]
        num_drawn = len(kinds) - kinds.count('region_crop')
        if 'region_crop' in kinds[:num_drawn]:
            raise ValueError("MultiViewCrop: kind='region_crop' views must "
                             'come after all other views')
        for k, s in enumerate(self.expanded):
            if s.kind == 'resize_of' and not (
                    0 <= s.source < k and
                    self.expanded[s.source].kind != 'region_crop'):
                raise ValueError(
                    f"MultiViewCrop view {k} (kind='resize_of'): source="
                    f'{s.source} must index an earlier non-region view of '
                    'the expanded view list (after `num` repetition)')
        return num_drawn

    @property
    def num_views(self) -> int:
        """int: Number of output views ``K``."""
        return len(self.expanded)

    # ---------------------------------------------------------- geometry
    def _draw(self, img_hw: Tuple[int, int],
              rng: np.random.Generator) -> Tuple[ViewGeometry, np.ndarray]:
        """Draw the crops of the drawn views and the flips of all views.

        Args:
            img_hw (tuple[int, int]): Source ``(H, W)``.
            rng (np.random.Generator): Source of randomness.

        Returns:
            tuple: geometry of the drawn views (batch ``[K_drawn]``,
            float64) and ``[K]`` bool flips of all views.
        """
        h, w = img_hw
        ijhw = np.zeros((self.num_drawn, 4), dtype=np.int64)
        k = 0
        for spec in self.specs:
            if spec.kind == 'resized_crop':
                ijhw[k:k + spec.num] = random_resized_crop_params(
                    rng, img_hw, spec.num, spec.scale, spec.ratio)
            elif spec.kind == 'whole':
                ijhw[k:k + spec.num] = (0, 0, h, w)
            k += spec.num
        for k, spec in enumerate(self.expanded[:self.num_drawn]):
            if spec.kind == 'resize_of':
                ijhw[k] = ijhw[spec.source]
        flips = self._draw_flips(rng)
        i, j, ch, cw = torch.from_numpy(ijhw).double().unbind(-1)
        out = torch.tensor([s.size for s in self.expanded[:self.num_drawn]],
                           dtype=torch.float64)
        if self.flip == 'shared' and flips.any():
            geom = ViewGeometry.from_flipped_source_crop(
                j, i, cw, ch, w, out, dtype=torch.float64)
        else:
            geom = ViewGeometry.from_ijhw(
                i, j, ch, cw, out, torch.from_numpy(flips[:self.num_drawn]),
                dtype=torch.float64)
        return geom, flips

    def _draw_flips(self, rng: np.random.Generator) -> np.ndarray:
        """``[K]`` flips: one shared Bernoulli or one per view."""
        if self.flip == 'shared':
            return np.full(self.num_views, rng.random() <
                           self.shared_flip_prob)
        probs = np.array([s.flip_prob for s in self.expanded])
        return rng.random(self.num_views) < probs

    def _local_boxes(self, regions: Regions,
                     spec: _ViewSpec) -> Tuple[np.ndarray, np.ndarray]:
        """Source boxes ``[N, 4]`` and ids ``[N]`` of the local crops."""
        boxes = regions.local_boxes
        if boxes is not None:
            boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
            return boxes, np.arange(len(boxes), dtype=np.int64)
        if not 0 <= spec.region_set < len(regions.sets):
            raise IndexError(
                f"MultiViewCrop kind='region_crop': the sampler gives no "
                f'local_boxes and region_set={spec.region_set} but '
                f'it returned {len(regions.sets)} sets')
        src = regions.sets[spec.region_set]
        return src.boxes, src.ids

    def _region_views(self, regions: Regions, img_hw: Tuple[int, int],
                      flips: np.ndarray) -> Optional[ViewGeometry]:
        """Geometry of the region-crop views; appends their region sets."""
        specs = self.expanded[self.num_drawn:]
        if not specs:
            return None
        h, w = img_hw
        crops, local_sets = [], []
        for i, spec in enumerate(specs):
            boxes, ids = self._local_boxes(regions, spec)
            if len(boxes):
                r = i % len(boxes)
                crops.append(_pixel_crop(boxes[r], spec.margin, h, w))
                ids, boxes = ids[r:r + 1], boxes[r:r + 1]
            else:
                crops.append((0., 0., float(w), float(h)))
            local_sets.append(len(regions.sets))
            regions.sets.append(
                RegionSet(view=self.num_drawn + i, ids=ids, boxes=boxes))
        regions.local_sets = local_sets
        out = torch.tensor([s.size for s in specs], dtype=torch.float64)
        flip = torch.from_numpy(flips[self.num_drawn:])
        return ViewGeometry(
            torch.tensor(crops, dtype=torch.float64), out, flip)

    def _sample(self, img_hw: Tuple[int, int], rng: np.random.Generator,
                proposals: Optional[np.ndarray]
                ) -> Tuple[ViewGeometry, Optional[Regions]]:
        """The redraw loop; returns the geometry of all K views."""
        sampler = self.region_sampler
        regions = None
        for attempt in range(self.max_tries):
            geom, flips = self._draw(img_hw, rng)
            if sampler is None:
                break
            last = attempt == self.max_tries - 1
            regions = sampler.sample(geom, img_hw, rng, proposals, attempt,
                                     last)
            if regions is not None:
                regions.attempts = attempt + 1
                break
            if last:
                raise RuntimeError(
                    f'{type(sampler).__name__}.sample returned None with '
                    'last_attempt=True; a sampler must return Regions (with '
                    'a fallback) on the last attempt')
        if regions is not None:
            extra = self._region_views(regions, img_hw, flips)
            if extra is not None:
                geom = ViewGeometry.cat([geom, extra])
        return geom, regions

    # ------------------------------------------------------------ pixels
    def _render(self, img: np.ndarray, geom: ViewGeometry) -> List[np.ndarray]:
        """Crop (mmcv.imcrop), resize once (mmcv.imresize), flip each view."""
        crops = geom.crop.round().long().tolist()
        sizes = geom.out_size.round().long().tolist()
        views = []
        for (x1, y1, x2, y2), size, flip, spec in zip(crops, sizes,
                                                      geom.flip.tolist(),
                                                      self.expanded):
            patch = mmcv.imcrop(img, np.array([x1, y1, x2 - 1, y2 - 1]))
            view = mmcv.imresize(
                patch,
                tuple(size),
                interpolation=spec.interpolation or self.interpolation,
                backend=self.backend)
            if flip:
                # cv2.flip in place: `view` is a fresh array, and contiguous
                # output keeps later cv2-based photometric ops happy
                view = mmcv.imflip_(view, 'horizontal')
            views.append(view)
        return views

    def transform(self, results: Dict) -> Dict:
        """Make the views of ``results['img']``.

        Args:
            results (dict): Must hold ``img`` (``[H, W, C]``).

        Returns:
            dict: ``results`` with the keys listed in the class docstring.
        """
        img = results['img']
        if not isinstance(img, np.ndarray) or img.ndim not in (2, 3):
            raise TypeError('MultiViewCrop expects one [H, W, C] image in '
                            f'results["img"], got {type(img).__name__}; put '
                            'it right after the loading transform')
        img_hw = img.shape[:2]
        rng = np.random.default_rng(
            np.random.randint(0, 2**63 - 1, dtype=np.int64))
        geom, regions = self._sample(img_hw, rng,
                                     self._proposals(results, img_hw))
        views = self._render(img, geom)
        results['img'] = views
        results['img_shape'] = [v.shape[:2] for v in views]
        results.setdefault('ori_shape', img_hw)
        results['view_geometry'] = geom.to_dict()
        if regions is not None:
            results['regions'] = regions.to_dict()
        return results

    def _proposals(self, results: Dict,
                   img_hw: Tuple[int, int]) -> Optional[np.ndarray]:
        """Cleaned proposals when the sampler needs them."""
        sampler = self.region_sampler
        if sampler is None or not getattr(sampler, 'needs_proposals', False):
            return None
        if results.get('proposals') is None:
            raise KeyError(
                f'{type(sampler).__name__} needs proposals but image '
                f"{results.get('img_path')!r} has none in results"
                "['proposals']. Wrap the dataset in ProposalDataset("
                "dataset=..., proposal_file=...) to attach them.")
        return clean_proposals(results['proposals'], img_hw)

    def __repr__(self) -> str:
        views = [f'{s.kind}(size={s.size}, num={s.num})' for s in self.specs]
        return (f'{type(self).__name__}(views=[{", ".join(views)}], '
                f'flip={self.flip!r}, region_sampler={self.region_sampler!r},'
                f' max_tries={self.max_tries}, interpolation='
                f'{self.interpolation!r}, backend={self.backend!r})')


def _pixel_crop(box: np.ndarray, margin: float, h: int,
                w: int) -> Tuple[float, float, float, float]:
    """Box plus ``margin`` x its size per side, rounded outwards to whole
    pixels, inside the image and at least one pixel wide and high."""
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = margin * (x2 - x1), margin * (y2 - y1)
    x1 = min(max(math.floor(x1 - mx), 0), w - 1)
    y1 = min(max(math.floor(y1 - my), 0), h - 1)
    x2 = min(max(math.ceil(x2 + mx), x1 + 1), w)
    y2 = min(max(math.ceil(y2 + my), y1 + 1), h)
    return float(x1), float(y1), float(x2), float(y2)


# ----------------------------------------------------- per-view pipelines
#: Type names that change geometry (matched as substrings of the type):
#: crops, flips, resizes, rotations, shears, translations, pads, affine and
#: perspective warps, mixing, and the policies that contain such ops.
_GEOMETRIC = re.compile(
    r'Crop|Flip|Resiz|Rotat|Shear|Translat|Pad|Affine|Perspective|Expand|'
    r'Mosaic|MixUp|CutMix|AutoAugment|RandAugment|MultiScale|TestTimeAug|'
    r'MultiView|Transpose')


def _type_name(t: Any) -> str:
    """Registered type name of a transform config or object."""
    if isinstance(t, dict):
        type_ = t.get('type', '')
        return type_ if isinstance(type_, str) else type_.__name__
    return type(t).__name__


def _children(t: Any) -> List[Any]:
    """Transforms nested in a wrapper (config dict or built object), e.g.
    ``RandomApply``, ``RandomChoice``, ``Compose``, ``Albumentations``."""
    stack = list(t.values()) if isinstance(t, dict) else \
        [getattr(t, 'transforms', None)]
    found = []
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, dict) and 'type' in v:
            found.append(v)
        elif isinstance(v, (BaseTransform, Compose)):
            found.append(v)
    return found


def _reject_geometric(t: Any, where: str) -> None:
    """Raise if ``t`` (config or object, nested wrappers too) is geometric."""
    name = _type_name(t)
    if _GEOMETRIC.search(name):
        raise ValueError(
            f'{where}: {name!r} changes the geometry of the view. Geometry '
            'belongs to MultiViewCrop (crops, sizes and flips are recorded '
            'there in `view_geometry`); per-view pipelines may only hold '
            'photometric transforms (ColorJitter, RandomGrayscale, '
            'GaussianBlur, Solarize, ...).')
    for child in _children(t):
        _reject_geometric(child, where)


@TRANSFORMS.register_module()
class ViewPipelines(BaseTransform):
    """Run one photometric pipeline per view of ``results['img']``.

    View ``k`` goes through ``transforms[min(k, len(transforms) - 1)]``:
    a shorter list **broadcasts its last pipeline** to the remaining views
    (SoCo: ``[v1_pipeline, v2_pipeline]`` serves V2, V3 and V4 with the
    second one). Each pipeline sees a fresh dict holding only the view
    (``img``, ``img_shape``, ``ori_shape``, ``img_path``, ``view_index``),
    so it cannot touch ``view_geometry`` or the regions.

    Geometric transforms (type names matching crop/flip/resize/rotate/
    shear/translate/pad/affine/..., also inside ``RandomApply`` and other
    wrappers) are rejected when built, and a view whose size changes is
    rejected at run time: geometry belongs to :class:`MultiViewCrop`.

    Unlike mmpretrain's ``MultiView`` (which deep-copies the whole results
    and runs a full pipeline, geometry included, once per view), the views
    already exist here: only their pixels change.

    Args:
        transforms (list[list[dict | callable]]): One pipeline per view.
    """

    def __init__(self, transforms: Sequence[Sequence[Union[dict,
                                                            Callable]]]):
        if not transforms or isinstance(transforms[0], dict):
            raise ValueError('ViewPipelines needs a list of pipelines (a list '
                             'of lists of transforms), e.g. [[...], [...]]')
        for k, pipeline in enumerate(transforms):
            for t in pipeline:
                _reject_geometric(t, f'ViewPipelines pipeline {k}')
        # built with mmalfm's registry (which sees mmpretrain's and mmcv's
        # transforms) rather than through mmcv's Compose, which uses mmcv's
        # registry and the default scope
        self.pipelines = [
            Compose([
                TRANSFORMS.build(t) if isinstance(t, dict) else t for t in p
            ]) for p in transforms
        ]
        for k, pipeline in enumerate(self.pipelines):
            for t in pipeline.transforms:  # objects built from configs
                _reject_geometric(t, f'ViewPipelines pipeline {k}')

    def transform(self, results: Dict) -> Dict:
        """Apply the pipelines to the views.

        Args:
            results (dict): ``img`` must be the list of views.

        Returns:
            dict: ``results`` with ``img`` replaced by the processed views.
        """
        imgs = results['img']
        if not isinstance(imgs, list):
            raise TypeError('ViewPipelines expects the list of views made by '
                            'MultiViewCrop in results["img"]')
        if len(self.pipelines) > len(imgs):
            raise ValueError(f'ViewPipelines has {len(self.pipelines)} '
                             f'pipelines but the image has {len(imgs)} views')
        results['img'] = [
            self._apply(k, img, results) for k, img in enumerate(imgs)
        ]
        return results

    def _apply(self, k: int, img: np.ndarray, results: Dict) -> np.ndarray:
        """Run view ``k``'s pipeline on a dict holding only that view."""
        pipeline = self.pipelines[min(k, len(self.pipelines) - 1)]
        view = dict(
            img=img,
            img_shape=img.shape[:2],
            ori_shape=results.get('ori_shape'),
            img_path=results.get('img_path'),
            view_index=k)
        out = pipeline(view)
        if out is None:
            raise RuntimeError(f'ViewPipelines: the pipeline of view {k} '
                               'returned None')
        if out['img'].shape[:2] != img.shape[:2]:
            raise ValueError(
                f'ViewPipelines: the pipeline of view {k} changed the view '
                f'size from {img.shape[:2]} to {out["img"].shape[:2]}. '
                'Geometry belongs to MultiViewCrop.')
        return out['img']

    def __repr__(self) -> str:
        inner = ', '.join(repr(p) for p in self.pipelines)
        return f'{type(self).__name__}(transforms=[{inner}])'
