# Copyright (c) mmalfm contributors. All rights reserved.
"""Drawing primitives of the view browser: boxes (solid or dashed), text,
id labels that avoid each other, and the legend arrow.

Boxes are in continuous corners (``x2``/``y2`` exclusive) of the array
they are drawn on; lines are not anti-aliased, so a drawn box holds
exactly its colour.
"""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .colours import TEXT_COLOUR, id_colour, label_background

Rect = Tuple[int, int, int, int]

FONT = cv2.FONT_HERSHEY_SIMPLEX
#: Dash and gap lengths of dashed boxes, in canvas pixels.
DASH, GAP = 6, 4


def line_thickness(scale: int) -> int:
    """Box line thickness in canvas pixels for a view ``scale``."""
    return 1 if scale <= 1 else 2


def rect_pixels(box: Sequence[float]) -> Rect:
    """Continuous-corner box -> inclusive pixel corners for cv2."""
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    return x1, y1, max(x2 - 1, x1), max(y2 - 1, y1)


def draw_box(img: np.ndarray, box: Sequence[float], colour: Tuple[int, ...],
             thickness: int, dashed: bool = False) -> None:
    """Draw a continuous-corner box, solid or dashed (:data:`DASH` on,
    :data:`GAP` off), in place."""
    x1, y1, x2, y2 = rect_pixels(box)
    if not dashed:
        cv2.rectangle(img, (x1, y1), (x2, y2), colour, thickness,
                      cv2.LINE_8)
        return
    for (ax, ay), (bx, by) in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)),
                               ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))):
        length = max(abs(bx - ax), abs(by - ay))
        for start in range(0, length + 1, DASH + GAP):
            end = min(start + DASH, length)
            t0, t1 = start / max(length, 1), end / max(length, 1)
            p0 = (int(round(ax + (bx - ax) * t0)),
                  int(round(ay + (by - ay) * t0)))
            p1 = (int(round(ax + (bx - ax) * t1)),
                  int(round(ay + (by - ay) * t1)))
            cv2.line(img, p0, p1, colour, thickness, cv2.LINE_8)


def put_text(img: np.ndarray, text: str, org: Tuple[int, int],
             colour: Tuple[int, ...] = TEXT_COLOUR, size: float = 0.45,
             background: Optional[Tuple[int, ...]] = None) -> int:
    """Write ASCII ``text`` with its baseline-left corner at ``org``.

    Returns:
        int: The text width in pixels.
    """
    (tw, th), base = cv2.getTextSize(text, FONT, size, 1)
    if background is not None:
        cv2.rectangle(img, (org[0] - 1, org[1] - th - 1),
                      (org[0] + tw, org[1] + base - 1), background, -1)
    cv2.putText(img, text, org, FONT, size, colour, 1, cv2.LINE_AA)
    return tw


def text_width(text: str, size: float = 0.35) -> int:
    """Width in pixels of ``text`` written with :func:`put_text`."""
    return cv2.getTextSize(text, FONT, size, 1)[0][0]


def free_spot(x: int, y: int, width: int, placed: List[Rect],
              step: int) -> int:
    """Baseline ``y`` (moved by ``step`` up to 8 times) where a 0.35-size
    label of ``width`` px at ``x`` covers no rectangle of ``placed``; the
    label's rectangle is added to ``placed``."""
    for _ in range(8):
        rect = (x - 1, y - 10, x + width, y + 3)
        if not any(rect[0] < p[2] and p[0] < rect[2] and rect[1] < p[3]
                   and p[1] < rect[3] for p in placed):
            break
        y += step
    placed.append(rect)
    return y


def draw_id_label(img: np.ndarray, box: Sequence[float], ids: Sequence[int],
                  thickness: int, placed: List[Rect]) -> None:
    """The ids of one drawn box (several when boxes coincide), each in its
    colour, inside the box's top-left corner and off its edge; moved down
    while it would cover a label in ``placed`` (which it joins)."""
    x1, y1, _, _ = rect_pixels(box)
    h, w = img.shape[:2]
    x0 = min(max(x1, 0), w - 1) + thickness + 2
    y = min(max(y1, 0), h - 1) + thickness + 11
    texts = [str(i) + (',' if k < len(ids) - 1 else '')
             for k, i in enumerate(ids)]
    width = sum(text_width(t) for t in texts)
    y = free_spot(x0, y, width, placed, 13)
    x = x0
    for region_id, text in zip(ids, texts):
        colour = id_colour(region_id)
        x += put_text(img, text, (x, y), colour, 0.35,
                      background=label_background(colour))


def double_arrow(img: np.ndarray, x: int, y: int, length: int = 22) -> int:
    """Draw a ``<->`` arrow whose left end is at ``(x, y)``; its length."""
    a, b = (x + 2, y - 4), (x + length - 2, y - 4)
    cv2.arrowedLine(img, a, b, TEXT_COLOUR, 1, cv2.LINE_AA, tipLength=0.3)
    cv2.arrowedLine(img, b, a, TEXT_COLOUR, 1, cv2.LINE_AA, tipLength=0.3)
    return length
