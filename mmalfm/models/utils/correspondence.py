# Copyright (c) mmalfm contributors. All rights reserved.
"""SoCo's scale-aware slots and id-equality correspondence (and ALFM's
first-match row index, :func:`match_ids`).

For a directed view pair every image carries ``L`` boxes per view (ids from
the region sampler: proposal ids ``>= 1``, negative ids = sentinels such as
the ``-1`` whole-view fallback). Each box is assigned one FPN level; the
``num_levels * L`` *slots* of a view hold the box id at ``(level, box)`` and
a sentinel elsewhere, in **level-major** order (slot ``l * L + j``) -- the
order of :class:`~mmalfm.models.utils.MultiLevelRoIPool` in all-levels mode
and of the released ``get_aware_correspondence_matrix``.
"""
from typing import Sequence, Tuple

import torch
from torch import Tensor

from mmalfm.structures import ViewGeometry, soco_level

__all__ = [
    'scale_aware_slot_ids', 'id_correspondence', 'assign_soco_levels',
    'match_ids', 'take_rows'
]


def scale_aware_slot_ids(ids: Tensor, levels: Tensor, num_levels: int,
                         sentinel: int) -> Tensor:
    """Spread box ids over ``num_levels * L`` level-major slots.

    Slot ``(l, j)`` (index ``l * L + j``) holds ``ids[n, j]`` if
    ``levels[n, j] == l`` and ``sentinel`` otherwise. Boxes with level
    ``-1`` (larger than the last threshold) or a negative id occupy no slot.

    Args:
        ids (Tensor): ``[N, L]`` integer region ids (negative = never
            matches).
        levels (Tensor): ``[N, L]`` integer levels in ``0..num_levels-1`` or
            ``-1``.
        num_levels (int): Number of FPN levels ``P`` (4 for P2-P5).
        sentinel (int): Negative filler of unassigned slots. SoCo's released
            code uses a different one per view (``-1`` for V1, ``-2`` for
            V2, ...); with :func:`id_correspondence` any negative value is
            enough.

    Returns:
        Tensor: ``[N, num_levels * L]`` int64 slot ids.
    """
    if sentinel >= 0:
        raise ValueError(f'sentinel must be negative, got {sentinel}')
    if ids.shape != levels.shape or ids.dim() != 2:
        raise ValueError(f'ids {tuple(ids.shape)} and levels '
                         f'{tuple(levels.shape)} must both be [N, L]')
    ids = ids.long()
    lv = torch.arange(num_levels, device=ids.device)[None, :, None]
    hit = (levels.long()[:, None, :] == lv) & (ids[:, None, :] >= 0)
    slots = torch.where(hit, ids[:, None, :], ids.new_full((), sentinel))
    return slots.flatten(1)


def id_correspondence(slots_a: Tensor, slots_b: Tensor) -> Tensor:
    """Correspondence matrix by id equality between two slot vectors.

    ``C[n, u, v] = slots_a[n, u] == slots_b[n, v] and both >= 0``: negative
    entries (sentinels, fallback ids) never match, even when equal. The
    released SoCo code gets the same effect with plain equality and a
    distinct negative sentinel per view (``-1`` V1, ``-2`` V2, ...). Padded
    duplicates (the same id in several slots) give several positives.

    Args:
        slots_a (Tensor): ``[N, A]`` integer ids of view ``a``.
        slots_b (Tensor): ``[N, B]`` integer ids of view ``b``.

    Returns:
        Tensor: ``[N, A, B]`` bool; the ``b -> a`` matrix is its transpose.
    """
    a = slots_a[:, :, None]
    b = slots_b[:, None, :]
    return (a == b) & (a >= 0) & (b >= 0)


def assign_soco_levels(boxes_view: Tensor,
                       geometry: ViewGeometry,
                       thresholds: Sequence[float] = (48, 96, 192, 224)
                       ) -> Tensor:
    """SoCo's scale-aware FPN level of each box (released ``aware_range``).

    A thin wrapper over :func:`mmalfm.structures.soco_level` with the view
    geometry (exact released behaviour: unflipped inclusive corners, one
    *source* pixel subtracted, truncation to int, ``sqrt(w*h) <= t``).

    Args:
        boxes_view (Tensor): ``[N, L, 4]`` continuous boxes in view pixels
            (``src_to_view`` output, flip applied).
        geometry (ViewGeometry): the view of each image, batch shape
            ``[N]`` (e.g. ``ViewGeometry.collate(...)[:, k]``).
        thresholds (Sequence[float]): increasing level bounds.

    Returns:
        Tensor: ``[N, L]`` int64 levels in ``0..len(thresholds)-1``, ``-1``
        beyond the last threshold.
    """
    return soco_level(boxes_view, thresholds, geom=geometry)


def match_ids(ids_t: Tensor, ids_s: Tensor) -> Tuple[Tensor, Tensor]:
    """For each student row, the first teacher row with the same id.

    Args:
        ids_t (Tensor): ``[N, T]`` teacher region ids (negative: none).
        ids_s (Tensor): ``[N, S]`` student region ids.

    Returns:
        tuple: ``[N, S]`` int64 teacher row index (0 where unmatched) and
        ``[N, S]`` bool ``valid`` (a non-negative id present in both).
    """
    corr = id_correspondence(ids_t, ids_s)  # [N, T, S]
    valid = corr.any(dim=1)
    # argmax returns the first maximal index
    return corr.to(torch.int32).argmax(dim=1), valid


def take_rows(rows: Tensor, index: Tensor) -> Tensor:
    """``rows [N, T, K]`` gathered at ``index [N, S]`` -> ``[N, S, K]``."""
    return torch.gather(rows, 1,
                        index[..., None].expand(-1, -1, rows.shape[-1]))
