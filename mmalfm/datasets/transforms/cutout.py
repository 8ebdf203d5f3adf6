# Copyright (c) mmalfm contributors. All rights reserved.
"""SoCo's box cutout (Wei et al., 2021; see configs/soco/README.md)."""
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mmalfm.registry import TRANSFORMS
from mmalfm.structures import ViewGeometry, src_to_view

__all__ = ['RegionCutout']

#: mmpretrain's / SoCo's ImageNet mean in RGB order (0-255).
IMAGENET_MEAN_RGB = (123.675, 116.28, 103.53)


@TRANSFORMS.register_module()
class RegionCutout(BaseTransform):
    """Cut a random square out of region boxes of some views (SoCo cutout).

    The released 100-epoch FPN and C4 scripts (``--cutout_prob 0.5
    --cutout_ratio_min 0.1 --cutout_ratio_max 0.3``) do, after
    normalisation, for **every** box of V2 and V3 independently with
    probability ``prob``: draw ``r ~ U(area_ratio)``, a square of side
    ``round(sqrt(r * box area))`` centred at a uniformly random pixel inside
    the box is set to 0, clipped to the image.

    Here the views are still uint8 ``[h, w, C]`` arrays (normalisation is
    the data preprocessor's job), so the square is filled with the mean
    colour instead (``fill='mean'``): after the preprocessor's ``(x -
    mean) / std`` it is 0 up to the uint8 rounding of the mean (at most
    ``0.5 / std`` ≈ 0.009). The views are BGR (``LoadImageFromFile``;
    ``SelfSupDataPreprocessor(to_rgb=True)`` converts), so ``mean`` (RGB,
    as in the preprocessor config) is reversed when ``channel_order`` is
    ``'bgr'``.

    **Which boxes.** Every region set of ``results['regions']`` whose view
    is in ``views``: its source boxes are mapped into the view with
    :func:`~mmalfm.structures.src_to_view` and the ``view_geometry``. As in
    the released code, *every* row is cut: the padded duplicates (a box
    duplicated by padding gets several independent chances, as released)
    and negative-id sentinel rows (SoCo's whole-view fallback box) included.
    In a view that appears in several sets (SoCo*: none with cutout) every
    set's boxes are cut.

    **Integer pixels** (the released code crashes: it feeds floats to
    ``random.randint``). With continuous corners (pixel ``i`` spans ``[i, i
    + 1)``) a view box ``(x1, y1, x2, y2)`` covers the pixel columns
    ``floor(x1) .. ceil(x2) - 1`` (clipped to the view); the centre
    ``(cx, cy)`` is a uniform integer pixel among them. The area is the
    continuous ``(x2 - x1) * (y2 - y1)`` in view pixels; the side ``s =
    round(sqrt(r * area))`` (``np.rint``: half to even, like Python's
    ``round``). The square covers columns ``cx - s // 2 .. cx - s // 2 + s
    - 1`` (and likewise rows), clipped to the view.

    **Randomness.** Each call draws one seed from the global ``np.random``
    (seeded per dataloader worker by MMEngine, like mmcv's transforms) and
    uses one ``np.random.Generator``; per view, for all its boxes at once:
    the coin flips, the area ratios, then the centre columns and rows (all
    drawn whether or not the coin allows the cut).

    Place it after ``ViewPipelines`` (the released cutout comes after the
    photometric ops) and before ``PackMultiViewInputs``.

    **Required keys:** ``img`` (list of ``[h, w, C]`` views),
    ``view_geometry``, ``regions``. **Modified keys:** ``img`` (the listed
    views, as new arrays; the others are the same objects).

    Args:
        views (Sequence[int]): Views to cut (SoCo: V2, V3 = ``(1, 2)``; C4:
            ``(1, )``, view 2 does not exist there and is ignored).
        prob (float): Per-box probability. Defaults to 0.5.
        area_ratio (tuple[float, float]): Range of the square's area as a
            fraction of the box area. Defaults to ``(0.1, 0.3)``.
        fill (str | float | Sequence[float]): ``'mean'`` (the mean colour,
            see above) or an explicit value/colour in the image's channel
            order.
        mean (Sequence[float]): The mean colour in RGB order (the data
            preprocessor's ``mean``).
        channel_order (str): ``'bgr'`` (default) or ``'rgb'``: the order of
            the views' channels, used to order ``mean``.
    """

    def __init__(self,
                 views: Sequence[int] = (1, 2),
                 prob: float = 0.5,
                 area_ratio: Tuple[float, float] = (0.1, 0.3),
                 fill: Union[str, float, Sequence[float]] = 'mean',
                 mean: Sequence[float] = IMAGENET_MEAN_RGB,
                 channel_order: str = 'bgr') -> None:
        self.views = tuple(int(v) for v in views)
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        lo, hi = (float(a) for a in area_ratio)
        if not 0 <= lo <= hi:
            raise ValueError(f'area_ratio must satisfy 0 <= lo <= hi, got '
                             f'{tuple(area_ratio)}')
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError("channel_order must be 'bgr' or 'rgb', got "
                             f'{channel_order!r}')
        if isinstance(fill, str) and fill != 'mean':
            raise ValueError(f"fill must be 'mean' or a colour, got {fill!r}")
        self.prob = float(prob)
        self.area_ratio = (lo, hi)
        self.fill = fill
        self.mean = tuple(float(m) for m in mean)
        self.channel_order = channel_order

    def fill_value(self, channels: int) -> np.ndarray:
        """The fill colour ``[C]`` (float64) in the image's channel order."""
        if isinstance(self.fill, str):  # 'mean'
            value = np.asarray(self.mean, dtype=np.float64)
            if self.channel_order == 'bgr':
                value = value[::-1]
        else:
            value = np.asarray(self.fill, dtype=np.float64).reshape(-1)
        if value.size == 1:
            value = np.repeat(value, channels)
        if value.size != channels:
            raise ValueError(f'RegionCutout: fill colour {tuple(value)} has '
                             f'{value.size} channels, the image {channels}')
        return value

    def squares(self, boxes: np.ndarray, hw: Tuple[int, int],
                rng: np.random.Generator) -> np.ndarray:
        """Draw the cutout squares of one view.

        Args:
            boxes (np.ndarray): ``[M, 4]`` view-pixel boxes.
            hw (tuple[int, int]): ``(h, w)`` of the view.
            rng (np.random.Generator): randomness.

        Returns:
            np.ndarray: ``[M', 4]`` int64 ``(x1, y1, x2, y2)`` half-open
            pixel ranges (``x1 <= x < x2``) of the cut squares, clipped to
            the view (only boxes whose coin allowed a cut; possibly empty).
        """
        h, w = hw
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        num = len(boxes)
        cut = rng.random(num) < self.prob
        ratio = rng.uniform(self.area_ratio[0], self.area_ratio[1], num)
        area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * \
            np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
        side = np.rint(np.sqrt(ratio * area)).astype(np.int64)
        size = np.array([w, h], dtype=np.int64)
        # pixels covered by the box (continuous corners), inside the view
        first = np.clip(np.floor(boxes[:, :2]).astype(np.int64), 0, size - 1)
        last = np.clip(
            np.ceil(boxes[:, 2:]).astype(np.int64) - 1, first, size - 1)
        centre = rng.integers(first, last + 1)  # [M, 2] (cx, cy)
        start = centre - side[:, None] // 2
        end = start + side[:, None]
        squares = np.concatenate(
            [np.clip(start, 0, size), np.clip(end, 0, size)], axis=1)
        return squares[cut]

    def transform(self, results: Dict) -> Dict:
        """Cut the squares.

        Args:
            results (dict): With ``img`` (list of views), ``view_geometry``
                and ``regions`` (see the class docstring).

        Returns:
            dict: ``results`` with the listed views cut.
        """
        imgs = results['img']
        if not isinstance(imgs, list):
            raise TypeError('RegionCutout expects the list of views made by '
                            'MultiViewCrop in results["img"]')
        regions: Optional[Dict] = results.get('regions')
        if regions is None:
            raise KeyError('RegionCutout needs results["regions"] (a '
                           'MultiViewCrop with a region_sampler)')
        geom = ViewGeometry.from_dict(
            results['view_geometry'], dtype=torch.float64)
        rng = np.random.default_rng(
            np.random.randint(0, 2**63 - 1, dtype=np.int64))
        set_views = np.asarray(regions['views']).reshape(-1)
        imgs = list(imgs)
        for k in self.views:
            if k >= len(imgs):
                continue
            rows = [
                np.asarray(regions['boxes'][s], dtype=np.float64).reshape(
                    -1, 4) for s in np.flatnonzero(set_views == k)
            ]
            if not rows:
                continue
            src = torch.from_numpy(np.concatenate(rows, axis=0))
            boxes = src_to_view(src, geom[k]).numpy()
            img = imgs[k]
            squares = self.squares(boxes, img.shape[:2], rng)
            if not len(squares):
                continue
            h, w = img.shape[:2]
            cols, rows_ = np.arange(w), np.arange(h)
            in_x = (cols >= squares[:, 0:1]) & (cols < squares[:, 2:3])
            in_y = (rows_ >= squares[:, 1:2]) & (rows_ < squares[:, 3:4])
            mask = (in_y[:, :, None] & in_x[:, None, :]).any(0)  # [h, w]
            channels = img.shape[2] if img.ndim == 3 else 1
            value = self.fill_value(channels)
            if np.issubdtype(img.dtype, np.integer):
                info = np.iinfo(img.dtype)
                value = np.clip(np.rint(value), info.min, info.max)
            value = value.astype(img.dtype)
            img = img.copy()
            img[mask] = value if img.ndim == 3 else value[0]
            imgs[k] = img
        results['img'] = imgs
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(views={self.views}, prob={self.prob}'
                f', area_ratio={self.area_ratio}, fill={self.fill!r}, '
                f'mean={self.mean}, channel_order={self.channel_order!r})')
