# Copyright (c) mmalfm contributors. All rights reserved.
"""The rows of a ``Regions.to_dict()`` record, ready to draw: which id
belongs to which view, whether a paired set holds it, and one summary per
pair for the legend."""
from typing import Any, Dict, List, Tuple

import numpy as np


class DrawnRegion:
    """One row of a region set, ready to draw.

    Args:
        set_index (int): Index of its set in ``regions['ids']``.
        view (int): The view of that set.
        region_id (int): Its id (negative: never matches).
        box (np.ndarray): ``[4]`` float64 source box (xyxy, source pixels).
        matched (bool): Whether a set paired with its own holds its id.
    """

    def __init__(self, set_index: int, view: int, region_id: int,
                 box: np.ndarray, matched: bool) -> None:
        self.set_index = set_index
        self.view = view
        self.id = region_id
        self.box = box
        self.matched = matched

    @property
    def order(self) -> Tuple[int, int]:
        """Draw order: negative, then unmatched, then matched; by id."""
        return (0 if self.id < 0 else 1 + int(self.matched), self.id)


def _partners(regions: dict) -> Dict[int, List[int]]:
    """Set index -> indices of the sets it is paired with."""
    out: Dict[int, List[int]] = {i: [] for i in range(len(regions['ids']))}
    for s, t in np.asarray(regions['pairs']).reshape(-1, 2).tolist():
        out[s].append(t)
        out[t].append(s)
    return out


def collect_regions(regions: dict) -> List[DrawnRegion]:
    """All rows of all sets, each marked matched or not.

    A non-negative id of a set is matched when a set paired with it holds
    the same id; a set in no pair (ALFM's local views) is matched to every
    paired set.

    Args:
        regions (dict): ``Regions.to_dict()`` output.

    Returns:
        list[DrawnRegion]: One per row, sets in order.
    """
    partners = _partners(regions)
    paired = [i for i, p in partners.items() if p]
    out = []
    for s, (view, ids, boxes) in enumerate(
            zip(regions['views'], regions['ids'], regions['boxes'])):
        others = partners[s] or [t for t in paired if t != s]
        other_ids = set()
        for t in others:
            other_ids.update(int(i) for i in regions['ids'][t] if i >= 0)
        for region_id, box in zip(np.asarray(ids).tolist(),
                                  np.asarray(boxes).reshape(-1, 4)):
            out.append(
                DrawnRegion(s, int(view), int(region_id),
                            np.asarray(box, dtype=np.float64),
                            region_id >= 0 and region_id in other_ids))
    return out


def pair_summaries(regions: dict) -> List[dict]:
    """One dict per pair of ``regions['pairs']``.

    Returns:
        list[dict]: ``sets`` (the two set indices), ``views`` (their
        views), ``rows`` (their row counts) and ``matched`` (the sorted
        non-negative ids both hold).
    """
    out = []
    for s, t in np.asarray(regions['pairs']).reshape(-1, 2).tolist():
        ids_s = np.asarray(regions['ids'][s])
        ids_t = np.asarray(regions['ids'][t])
        common = sorted(set(ids_s[ids_s >= 0].tolist())
                        & set(ids_t[ids_t >= 0].tolist()))
        out.append(
            dict(
                sets=(s, t),
                views=(int(regions['views'][s]), int(regions['views'][t])),
                rows=(len(ids_s), len(ids_t)),
                matched=common))
    return out


def info_text(info: Dict[str, Any]) -> str:
    """Scalar entries of ``regions['info']`` (and ``num_selected``) as
    ``k=v`` text for the title."""
    parts = []
    for k, v in info.items():
        if isinstance(v, (bool, int, float, np.integer, np.floating, str)):
            v = f'{v:.2f}' if isinstance(v, (float, np.floating)) else v
            parts.append(f'{k}={v}')
        elif k == 'num_selected':
            parts.append(f'{k}={list(v)}')
    return ' '.join(parts)
