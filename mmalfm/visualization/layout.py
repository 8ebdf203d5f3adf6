# Copyright (c) mmalfm contributors. All rights reserved.
"""Where the panels of a view-browser picture go.

From top to bottom: a title line (:data:`HEADER_H`), a label strip
(:data:`LABEL_H`), the panel row (the source image, then the ``K`` views),
then one legend line (:data:`LEGEND_LINE_H`) each for the colour key, every
pair and every local view.
"""
from typing import Sequence, Tuple

#: Gap between panels and around the picture, in canvas pixels.
MARGIN = 8
#: Height of the title line at the top.
HEADER_H = 24
#: Height of the label strip above each panel.
LABEL_H = 20
#: Height of one legend line below the panels.
LEGEND_LINE_H = 20
#: Ids are written next to their boxes when a panel has at most this many.
MAX_LABELLED_IDS = 16


def panel_layout(src_hw: Tuple[int, int], view_wh: Sequence[Tuple[int, int]],
                 scale: int) -> dict:
    """Where every panel goes on the canvas.

    The views keep their relative sizes (all upscaled by ``scale``) and sit
    top-aligned in one row of height ``max(view h) * scale``; the source
    panel is resized to that height.

    Args:
        src_hw (tuple[int, int]): Source image ``(H, W)``.
        view_wh (Sequence[tuple[int, int]]): ``(w, h)`` of every view.
        scale (int): Integer view upscaling.

    Returns:
        dict: ``row_h``, ``src`` (``x``, ``y``, ``w``, ``h``, ``factor``),
        ``views`` (list of ``(x, y)``), ``width`` (canvas width).
    """
    row_h = max(h for _, h in view_wh) * scale
    src_h, src_w = src_hw
    factor = row_h / src_h
    src_w_disp = max(int(round(src_w * factor)), 1)
    y = HEADER_H + LABEL_H
    x = MARGIN
    src = dict(x=x, y=y, w=src_w_disp, h=row_h, factor=factor)
    x += src_w_disp + MARGIN
    views = []
    for w, _ in view_wh:
        views.append((x, y))
        x += w * scale + MARGIN
    return dict(row_h=row_h, src=src, views=views, width=x)


def canvas_height(row_h: int, legend_lines: int) -> int:
    """Canvas height for a panel row of ``row_h`` and ``legend_lines``."""
    return HEADER_H + LABEL_H + row_h + MARGIN + \
        legend_lines * LEGEND_LINE_H + MARGIN
