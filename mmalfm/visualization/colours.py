# Copyright (c) mmalfm contributors. All rights reserved.
"""Colours of the view browser (BGR, as OpenCV draws them).

A region's colour is a function of its id only (:func:`id_colour`), so the
same id has the same colour in every panel of a picture and in every
picture; negative ids (they never match) are :data:`GREY`.
"""
import colorsys
from typing import Tuple

Colour = Tuple[int, int, int]

#: Canvas background.
BACKGROUND: Colour = (40, 40, 40)
#: Colour of negative ids.
GREY: Colour = (150, 150, 150)
#: Colour of the view crops drawn on the source panel.
CROP_COLOUR: Colour = (255, 255, 255)
#: Colour of titles, panel labels and the legend.
TEXT_COLOUR: Colour = (235, 235, 235)


def id_colour(region_id: int) -> Colour:
    """The BGR colour of a region id (:data:`GREY` for negative ids).

    Hues follow the golden ratio so that nearby ids differ strongly; the
    value alternates between two levels for more contrast between ids of
    similar hue.

    Args:
        region_id (int): The id.

    Returns:
        tuple[int, int, int]: ``(b, g, r)`` in ``0..255``.
    """
    region_id = int(region_id)
    if region_id < 0:
        return GREY
    hue = (region_id * 0.6180339887498949 + 0.05) % 1.0
    value = 1.0 if region_id % 2 == 0 else 0.8
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, value)
    return int(round(b * 255)), int(round(g * 255)), int(round(r * 255))


def label_background(colour: Colour) -> Colour:
    """Black behind light colours, light grey behind dark ones (BGR)."""
    b, g, r = colour
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 110 else \
        (225, 225, 225)
