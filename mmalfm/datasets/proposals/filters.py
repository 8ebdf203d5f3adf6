# Copyright (c) mmalfm contributors. All rights reserved.
"""SoCo's proposal filters (``selective_search/filters.py`` of the release).

Boxes are ``(x, y, w, h)`` with ``w = max_x - min_x`` as produced by
:func:`~mmalfm.datasets.proposals.selective_search`. All comparisons are
inclusive and use the same float64 arithmetic as the released Python code
(``w / h``, ``sqrt(w * h) / sqrt(W * H)``), so the boundary cases agree:

* ``filter_min_size``: ``w >= 32 and h >= 32`` (SoCo's ``filter_none``);
* ``filter_ratio``: min size and ``1 / r <= w / h <= r``;
* ``filter_ratio_size``: ratio and ``min_ratio <= sqrt(w * h) / sqrt(W * H)
  <= max_ratio``, with ``W, H`` the original image size;
* ``filter_post``: a named strategy. ``'ratio3size0308'`` is
  ``filter_ratio_size(r=3, min_ratio=0.3, max_ratio=0.8)``; the ``post``
  suffix falls back, for an image left with nothing, to ``filter_ratio(r=3)``,
  then to ``filter_min_size``, then to nothing (SoCo's dataset then uses
  the whole image). ``'none'`` keeps every box.

Every function keeps the order (and duplicates) of its input.
"""
import re
from typing import Mapping, Tuple, Union

import numpy as np

__all__ = [
    'MIN_SIZE', 'filter_min_size', 'filter_ratio', 'filter_ratio_size',
    'filter_post', 'parse_strategy', 'STAGES', 'sort_stages'
]

#: :func:`filter_post`'s stages, in the order a file's ``filter_stages``
#: counts are written.
STAGES = ('none', 'ratio_size', 'ratio', 'min_size', 'empty')

#: Minimal proposal width and height in SoCo's filters.
MIN_SIZE = 32

_STRATEGY = re.compile(r'^ratio(\d+)size(\d\d)(\d\d)(post)?$')


def _as_boxes(boxes) -> np.ndarray:
    boxes = np.asarray(boxes)
    if boxes.size == 0:
        return boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f'expected [N, 4] xywh boxes, got {boxes.shape}')
    return boxes


def _min_size_mask(boxes: np.ndarray, min_size: int) -> np.ndarray:
    return (boxes[:, 2] >= min_size) & (boxes[:, 3] >= min_size)


def _ratio_mask(boxes: np.ndarray, r: float, min_size: int) -> np.ndarray:
    keep = _min_size_mask(boxes, min_size)
    w = boxes[:, 2].astype(np.float64)
    h = boxes[:, 3].astype(np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        ratio = w / h
    return keep & (1.0 / r <= ratio) & (ratio <= r)


def filter_min_size(boxes, min_size: int = MIN_SIZE) -> np.ndarray:
    """Keep boxes with ``w >= min_size and h >= min_size``.

    Args:
        boxes (array-like): ``[N, 4]`` xywh boxes.
        min_size (int): Minimal width and height. Defaults to 32.

    Returns:
        np.ndarray: The kept ``[M, 4]`` boxes, input order.
    """
    boxes = _as_boxes(boxes)
    return boxes[_min_size_mask(boxes, min_size)]


def filter_ratio(boxes, r: float = 3, min_size: int = MIN_SIZE) -> np.ndarray:
    """Keep boxes passing :func:`filter_min_size` with ``1/r <= w/h <= r``.

    Args:
        boxes (array-like): ``[N, 4]`` xywh boxes.
        r (float): Largest aspect ratio. Defaults to 3.
        min_size (int): Minimal width and height. Defaults to 32.

    Returns:
        np.ndarray: The kept ``[M, 4]`` boxes, input order.
    """
    boxes = _as_boxes(boxes)
    return boxes[_ratio_mask(boxes, r, min_size)]


def filter_ratio_size(boxes,
                      img_w: int,
                      img_h: int,
                      r: float = 3,
                      min_ratio: float = 0.3,
                      max_ratio: float = 0.8,
                      min_size: int = MIN_SIZE) -> np.ndarray:
    """SoCo's ``ratio{r}size{min}{max}`` filter.

    Keeps a box iff ``w, h >= min_size``, ``1/r <= w/h <= r`` and
    ``min_ratio <= sqrt(w*h) / sqrt(img_w*img_h) <= max_ratio``.

    Args:
        boxes (array-like): ``[N, 4]`` xywh boxes.
        img_w (int): Original image width.
        img_h (int): Original image height.
        r (float): Largest aspect ratio. Defaults to 3.
        min_ratio (float): Smallest relative size. Defaults to 0.3.
        max_ratio (float): Largest relative size. Defaults to 0.8.
        min_size (int): Minimal width and height. Defaults to 32.

    Returns:
        np.ndarray: The kept ``[M, 4]`` boxes, input order.
    """
    boxes = _as_boxes(boxes)
    keep = _ratio_mask(boxes, r, min_size)
    rel = np.sqrt(boxes[:, 2].astype(np.float64) *
                  boxes[:, 3].astype(np.float64)) / np.sqrt(
                      float(img_w) * float(img_h))
    keep &= (min_ratio <= rel) & (rel <= max_ratio)
    return boxes[keep]


def parse_strategy(strategy: str) -> dict:
    """Parse a SoCo filter name such as ``'ratio3size0308post'``.

    Returns:
        dict: ``r``, ``min_ratio``, ``max_ratio`` and ``post``; or
        ``{'none': True}`` for ``'none'``.
    """
    if strategy == 'none':
        return dict(none=True)
    match = _STRATEGY.match(strategy)
    if match is None:
        raise ValueError(
            f'unknown filter strategy {strategy!r}: expected "none" or '
            '"ratio<r>size<min><max>[post]" (e.g. "ratio3size0308post": '
            'aspect ratio <= 3, relative size in [0.3, 0.8])')
    r, lo, hi, post = match.groups()
    return dict(
        r=int(r),
        min_ratio=int(lo) / 10,
        max_ratio=int(hi) / 10,
        post=post is not None)


def filter_post(boxes,
                img_w: int,
                img_h: int,
                strategy: str = 'ratio3size0308post',
                return_stage: bool = False
                ) -> Union[np.ndarray, Tuple[np.ndarray, str]]:
    """Apply a named SoCo filter strategy (see the module doc).

    Args:
        boxes (array-like): ``[N, 4]`` xywh boxes of one image.
        img_w (int): Original image width.
        img_h (int): Original image height.
        strategy (str): ``'none'`` or ``'ratio<r>size<min><max>[post]'``.
            Defaults to ``'ratio3size0308post'``.
        return_stage (bool): Also return which stage produced the result:
            ``'none'``, ``'ratio_size'``, ``'ratio'``, ``'min_size'`` or
            ``'empty'``. Defaults to False.

    Returns:
        np.ndarray | tuple: The kept ``[M, 4]`` boxes (and the stage).
    """
    boxes = _as_boxes(boxes)
    spec = parse_strategy(strategy)
    if spec.get('none'):
        kept, stage = boxes, 'none'
    else:
        kept, stage = filter_ratio_size(boxes, img_w, img_h, spec['r'],
                                        spec['min_ratio'],
                                        spec['max_ratio']), 'ratio_size'
        if len(kept) == 0 and spec['post']:
            kept, stage = filter_ratio(boxes, spec['r']), 'ratio'
            if len(kept) == 0:
                kept, stage = filter_min_size(boxes), 'min_size'
        if len(kept) == 0:
            stage = 'empty'
    return (kept, stage) if return_stage else kept


def sort_stages(counts: Mapping[str, int]) -> dict:
    """Stage counts in the fixed order of :data:`STAGES` (others after,
    sorted), so that a file's ``filter_stages`` does not depend on the
    order in which images were processed, resumed or merged.

    Args:
        counts (Mapping[str, int]): Stage -> number of images.

    Returns:
        dict: The same counts, ordered.
    """
    order = {stage: i for i, stage in enumerate(STAGES)}
    return {k: counts[k] for k in sorted(
        counts, key=lambda k: (order.get(k, len(STAGES)), k))}
