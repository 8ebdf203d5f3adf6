# Copyright (c) mmalfm contributors. All rights reserved.
"""Stored boxes -> the boxes an image trains on (one arithmetic for the
JSON file and the binary store, so both give the same float32 numbers)."""
from typing import Tuple

import numpy as np

__all__ = ['BOX_FORMATS', 'to_xyxy', 'clean_boxes']

#: Box layouts a proposal file or store may hold.
BOX_FORMATS = ('xywh', 'xyxy')


def to_xyxy(boxes: np.ndarray, box_format: str) -> np.ndarray:
    """Stored boxes as ``(x1, y1, x2, y2)`` continuous corners.

    Args:
        boxes (np.ndarray): ``[T, 4]`` float32 boxes as stored.
        box_format (str): ``'xywh'`` (``(x, y, x + w, y + h)``, no ``+1``)
            or ``'xyxy'`` (returned as is).

    Returns:
        np.ndarray: ``[T, 4]`` float32.
    """
    if box_format == 'xywh':
        return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]],
                              axis=1)
    return boxes


def clean_boxes(boxes: np.ndarray,
                sizes: np.ndarray) -> Tuple[np.ndarray, np.ndarray,
                                            np.ndarray]:
    """Clip to ``[0, W] x [0, H]`` and find the boxes to keep.

    Args:
        boxes (np.ndarray): ``[T, 4]`` float32 xyxy boxes.
        sizes (np.ndarray): ``[T, 2]`` float32 ``(W, H)`` of each box's
            image; ``inf`` where the image size is not known (then boxes are
            clipped at 0 only).

    Returns:
        tuple[np.ndarray, np.ndarray, np.ndarray]: The clipped boxes
        ``[T, 4]``, the ``[T]`` keep mask (finite, positive width and height
        after clipping) and the ``[T]`` mask of boxes the clipping changed.
    """
    clipped = np.clip(boxes, 0, np.tile(sizes, 2))
    finite = np.isfinite(boxes).all(1)
    keep = finite & (clipped[:, 2] > clipped[:, 0]) & \
        (clipped[:, 3] > clipped[:, 1])
    changed = (clipped != boxes).any(1)
    return clipped, keep, changed


def image_boxes(stored: np.ndarray, box_format: str, width: float,
                height: float) -> np.ndarray:
    """One image's kept boxes: :func:`to_xyxy` then :func:`clean_boxes`
    (the same float32 numbers), with fewer array operations (a data-loader
    worker calls it once per item).

    Args:
        stored (np.ndarray): ``[n, 4]`` float32 boxes as stored.
        box_format (str): ``'xywh'`` or ``'xyxy'``.
        width (float): Image width, ``inf`` when unknown.
        height (float): Image height, ``inf`` when unknown.

    Returns:
        np.ndarray: ``[m, 4]`` float32 clipped boxes with positive size.
    """
    boxes = stored
    if box_format == 'xywh':
        boxes = stored.copy()
        boxes[:, 2:] += stored[:, :2]  # x + w: the same sum as to_xyxy's
    upper = np.array([width, height, width, height], np.float32)
    clipped = np.minimum(np.maximum(boxes, np.float32(0)), upper)
    keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    if not np.isfinite(boxes).all():
        keep &= np.isfinite(boxes).all(1)
    return clipped[keep]
