# Copyright (c) mmalfm contributors. All rights reserved.
"""Selective search as used by SoCo, vectorised with numpy.

The recipe is the one of SoCo's offline proposal step (a derivative of the
pure-Python AlpacaDB ``selectivesearch`` package with an LBP texture
feature), see ``docs/advanced_guides/proposals.md``:

1. Felzenszwalb-Huttenlocher segmentation of the original-resolution RGB
   image (``skimage.segmentation.felzenszwalb`` on ``img_as_float(img)``,
   ``scale=300, sigma=0.9, min_size=100`` for SoCo).
2. Per region: pixel count, bounding box, a colour histogram (HSV, 25 bins
   per channel) and a texture histogram (``local_binary_pattern(P=8, R=1)``
   of each RGB channel, 10 bins per channel over ``[0, 255]``), both
   L1-normalised by the pixel count.
3. Greedy hierarchical grouping: repeatedly merge the neighbouring pair with
   the highest similarity ``colour + texture + size + fill`` where colour and
   texture are histogram intersections, ``size = 1 - (s_i + s_j) / |I|`` and
   ``fill = 1 - (bbox_ij - s_i - s_j) / |I|`` with ``bbox_ij = (max_x -
   min_x) * (max_y - min_y)`` of the union box (no ``+ 1``, as released).
   The merged region's histograms are the size-weighted average of the two.
4. Every initial and merged region is returned as ``(x, y, w, h)`` with
   ``w = max_x - min_x`` and ``h = max_y - min_y`` (inclusive pixel indices,
   no ``+ 1``: a one-pixel-wide region has ``w = 0``).

Details that are deliberate:

* **Colour histogram ranges** (``colour_hist``). The released code converts
  a float image holding ``0..255`` values with ``skimage.color.rgb2hsv``, so
  H and S lie in ``[0, 1]`` but V in ``[0, 255]``, and then bins all three
  channels over ``(0, 255)``: every H and S value falls into the first bin
  and only V discriminates (the colour similarity is ``2 + V-intersection``).
  ``colour_hist='soco'`` (default) reproduces that; ``'hsv'`` bins H and S
  over ``[0, 1]`` and V over ``[0, 255]`` as the paper intends.
* **Neighbours** (``neighbours``). ``'bbox'`` (default, the released
  heuristic, so that the default reproduces the proposals SoCo trained on)
  -- for
  regions ``a`` before ``b`` in raster order of first appearance, ``b`` is a
  neighbour of ``a`` iff a corner of ``b``'s box lies strictly inside ``a``'s
  box. It links regions that do not touch and misses some that do.
  ``'adjacency'``: two regions are neighbours iff a pixel of one is
  4-connected to a pixel of the other (the Uijlings et al. definition).
* **Exact similarities.** Histograms are kept as integer counts; the
  intersection of two normalised histograms is computed exactly as
  ``sum_k min(c_ik * s_j, c_jk * s_i) / (s_i * s_j)`` (integers, one
  correctly rounded division), i.e. the same value as the size-weighted
  float average of the original without its accumulated rounding. The
  result does not depend on the summation order, so the vectorised code and
  the pure-Python reference agree bit for bit (exact for images up to about
  1e8 pixels).
* **Tie-breaking.** The pair with the highest similarity is merged; ties go
  to the pair with the smallest ``(min id, max id)``. Initial regions have
  the ids of the Felzenszwalb labels, merged regions get ``n, n + 1, ...``
  in order of creation, and the output is ordered by id. Duplicated boxes
  are kept (as released: they weigh more when SoCo samples proposals).

Speed: per-region histograms are one ``np.bincount`` over ``label * bins +
bin``; the LBP codes are computed with whole-array numpy operations that
reproduce skimage's arithmetic (checked against skimage once per process,
falling back to it otherwise); with ``colour_hist='soco'`` only V
(``max(R, G, B)``) is binned since H and S always fall into one bin;
neighbour pairs come from shifted label maps; the similarity table is a
lazily pruned heap updated with one vectorised call per merge. What is left
is skimage's (compiled) Felzenszwalb segmentation, 80-90 % of the time.

:func:`_selective_search_reference` is a straightforward pure-Python
implementation of the same recipe (per-pixel loops, one mask per region,
a similarity dict scanned for its maximum at every merge), kept to check
the vectorised code and to measure the speed-up.
"""
import heapq
import warnings
from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np
from scipy import ndimage
from skimage.color import rgb2hsv
from skimage.feature import local_binary_pattern
from skimage.segmentation import felzenszwalb
from skimage.util import img_as_float

__all__ = ['selective_search', 'COLOUR_BINS', 'TEXTURE_BINS']

COLOUR_BINS = 25
TEXTURE_BINS = 10
#: ``(low, high)`` histogram range of the H, S and V channels.
COLOUR_RANGES: Dict[str, Tuple[Tuple[float, float], ...]] = {
    'soco': ((0.0, 255.0), (0.0, 255.0), (0.0, 255.0)),
    'hsv': ((0.0, 1.0), (0.0, 1.0), (0.0, 255.0)),
}
#: Histogram range of the LBP codes (``P = 8`` gives codes ``0..255``).
TEXTURE_RANGE = (0.0, 255.0)
LBP_POINTS, LBP_RADIUS = 8, 1.0
NEIGHBOURS = ('adjacency', 'bbox')
#: Rows of the pairwise box test evaluated at once (``neighbours='bbox'``).
_BBOX_BLOCK = 1024


# --------------------------------------------------------------------------
# Shared steps
# --------------------------------------------------------------------------
def _check_args(img: np.ndarray, colour_hist: str,
                neighbours: str) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError('selective_search expects an RGB image of shape '
                         f'(H, W, 3), got shape {img.shape}')
    if img.dtype != np.uint8:
        raise TypeError('selective_search expects a uint8 RGB image (the '
                        'recipe depends on the 0..255 value range), got '
                        f'dtype {img.dtype}')
    if colour_hist not in COLOUR_RANGES:
        raise ValueError(f'colour_hist must be one of {list(COLOUR_RANGES)},'
                         f' got {colour_hist!r}')
    if neighbours not in NEIGHBOURS:
        raise ValueError(f'neighbours must be one of {list(NEIGHBOURS)}, '
                         f'got {neighbours!r}')
    return img


def _segment(img: np.ndarray, scale: float, sigma: float,
             min_size: int) -> np.ndarray:
    """Felzenszwalb labels, relabelled to ``0..n-1`` if they are not."""
    labels = felzenszwalb(
        img_as_float(img), scale=scale, sigma=sigma, min_size=min_size)
    labels = labels.astype(np.int64, copy=False)
    if np.bincount(labels.ravel()).min() == 0:
        labels = np.unique(labels, return_inverse=True)[1].reshape(
            labels.shape)
    return labels


def _hsv(img: np.ndarray) -> np.ndarray:
    """HSV of a float image with ``0..255`` values (as released: V is not
    rescaled, H and S are ratios in ``[0, 1]``)."""
    return rgb2hsv(img.astype(np.float64))


def _lbp(img: np.ndarray, channel: int) -> np.ndarray:
    """LBP codes of one uint8 channel (skimage computes in float64; a uint8
    input gives the same codes as the released float input, without the
    float-input warning)."""
    return local_binary_pattern(img[..., channel], LBP_POINTS, LBP_RADIUS)


# --------------------------------------------------------------------------
# Vectorised implementation
# --------------------------------------------------------------------------
def _bin_index(values: np.ndarray, bins: int, low: float,
               high: float) -> np.ndarray:
    """Bin of each value exactly as ``np.histogram(v, bins, (low, high))``
    assigns it (half-open bins, last one closed); -1 outside the range."""
    edges = np.linspace(low, high, bins + 1)
    idx = np.searchsorted(edges, values, side='right') - 1
    idx[values == high] = bins - 1
    idx[(values < low) | (values > high)] = -1
    return idx


def _uint8_bin_lut(bins: int, low: float, high: float) -> np.ndarray:
    """``_bin_index`` of the values ``0..255`` (for integer-valued data)."""
    return _bin_index(np.arange(256, dtype=np.float64), bins, low, high)


#: LBP sample offsets, computed as skimage does (``P = 8``, ``R = 1``).
_LBP_DR = np.round(-LBP_RADIUS * np.sin(
    2 * np.pi * np.arange(LBP_POINTS, dtype=np.double) / LBP_POINTS), 5)
_LBP_DC = np.round(LBP_RADIUS * np.cos(
    2 * np.pi * np.arange(LBP_POINTS, dtype=np.double) / LBP_POINTS), 5)


def _lbp_numpy(channel: np.ndarray) -> np.ndarray:
    """``local_binary_pattern(channel, 8, 1.0)`` ('default' method) as
    uint8 codes, with whole-array numpy operations.

    Mirrors skimage's per-pixel float64 arithmetic: neighbour ``i`` is
    sampled by bilinear interpolation at ``(r + dr_i, c + dc_i)``, with the
    weights ``frac = (r + dr_i) - floor(r + dr_i)`` computed per row and
    column, zero outside the image; bit ``i`` is set iff ``sample - centre
    >= 0`` (equivalently ``sample >= centre`` for finite values). For the
    four axis-aligned neighbours the weights are 0 and 1 and the sample is
    the neighbouring pixel exactly. :func:`_lbp_fast` checks the result
    against skimage once per process.
    """
    img = channel.astype(np.float64)
    height, width = img.shape
    pad = np.zeros((height + 2, width + 2))
    pad[1:-1, 1:-1] = img
    rows = np.arange(height, dtype=np.float64)
    cols = np.arange(width, dtype=np.float64)
    codes = np.zeros((height, width), np.uint8)

    def window(dy: int, dx: int) -> np.ndarray:
        return pad[1 + dy:1 + dy + height, 1 + dx:1 + dx + width]

    for i in range(LBP_POINTS):
        r = rows + _LBP_DR[i]
        c = cols + _LBP_DC[i]
        r0, c0 = np.floor(r), np.floor(c)
        dy0, dx0 = int(r0[0] - rows[0]), int(c0[0] - cols[0])
        dy1 = int(np.ceil(r[0]) - rows[0])
        dx1 = int(np.ceil(c[0]) - cols[0])
        if dy0 == dy1 and dx0 == dx1:
            sample = window(dy0, dx0)
        else:
            dr = (r - r0)[:, None]
            dc = (c - c0)[None, :]
            top = (1 - dc) * window(dy0, dx0) + dc * window(dy0, dx1)
            bottom = (1 - dc) * window(dy1, dx0) + dc * window(dy1, dx1)
            sample = (1 - dr) * top + dr * bottom
        codes |= (sample >= img).view(np.uint8) << np.uint8(i)
    return codes


_LBP_FAST_OK: Optional[bool] = None


def _lbp_fast(img: np.ndarray, channel: int) -> np.ndarray:
    """uint8 LBP codes: :func:`_lbp_numpy` if it reproduces skimage in this
    environment (checked once per process on a random image), else
    skimage's."""
    global _LBP_FAST_OK
    if _LBP_FAST_OK is None:
        probe = np.random.default_rng(0).integers(
            0, 256, (37, 29), dtype=np.uint8)
        probe[5:15, 3:20] = 77  # flat patch: ties between samples
        _LBP_FAST_OK = bool(
            np.array_equal(
                _lbp_numpy(probe).astype(np.float64),
                local_binary_pattern(probe, LBP_POINTS, LBP_RADIUS)))
        if not _LBP_FAST_OK:
            warnings.warn('selective_search: the numpy LBP does not match '
                          'skimage here; using skimage (slower).')
    if _LBP_FAST_OK:
        return _lbp_numpy(img[..., channel])
    return _lbp(img, channel).astype(np.uint8)


def _histograms(flat_labels: np.ndarray, num: int,
                bin_ids: Sequence[np.ndarray], bins: int) -> np.ndarray:
    """Integer ``[num, C * bins]`` per-region histograms from per-pixel bin
    indices of C channels (-1: out of range, not counted), one bincount."""
    width = len(bin_ids) * bins
    ids = []
    for c, idx in enumerate(bin_ids):
        idx = idx.ravel()
        ok = idx >= 0
        if ok.all():
            ids.append(flat_labels * width + (c * bins + idx))
        else:
            ids.append(flat_labels[ok] * width + (c * bins + idx[ok]))
    counts = np.bincount(np.concatenate(ids), minlength=num * width)
    return counts.reshape(num, width)


def _colour_histograms(img: np.ndarray, flat_labels: np.ndarray, num: int,
                       sizes: np.ndarray, colour_hist: str) -> np.ndarray:
    """``[num, 3 * COLOUR_BINS]`` HSV counts, binned like ``np.histogram``.

    With ``'soco'`` ranges every H and S value (in ``[0, 1]``) lies in the
    first of 25 bins over ``(0, 255)``, and V is ``max(R, G, B)``, an integer:
    no HSV conversion is needed.
    """
    ranges = COLOUR_RANGES[colour_hist]
    if colour_hist == 'soco':
        hist = np.zeros((num, 3 * COLOUR_BINS), np.int64)
        hist[:, 0] = sizes
        hist[:, COLOUR_BINS] = sizes
        lut = _uint8_bin_lut(COLOUR_BINS, *ranges[2])
        value = np.maximum(np.maximum(img[..., 0], img[..., 1]), img[...,
                                                                      2])
        hist[:, 2 * COLOUR_BINS:] = _histograms(flat_labels, num,
                                                [lut[value]], COLOUR_BINS)
        return hist
    hsv = _hsv(img)
    return _histograms(flat_labels, num, [
        _bin_index(hsv[..., c], COLOUR_BINS, *ranges[c]) for c in range(3)
    ], COLOUR_BINS)


def _texture_histograms(img: np.ndarray, flat_labels: np.ndarray,
                        num: int) -> np.ndarray:
    """``[num, 3 * TEXTURE_BINS]`` counts of the per-channel LBP codes."""
    lut = _uint8_bin_lut(TEXTURE_BINS, *TEXTURE_RANGE)
    return _histograms(flat_labels, num, [
        lut[_lbp_fast(img, c)] for c in range(3)
    ], TEXTURE_BINS)


def _bboxes(labels: np.ndarray, num: int) -> np.ndarray:
    """``[num, 4]`` inclusive ``(min_x, min_y, max_x, max_y)`` per label."""
    slices = ndimage.find_objects(labels + 1, max_label=num)
    return np.array([(sx.start, sy.start, sx.stop - 1, sy.stop - 1)
                     for sy, sx in slices],
                    dtype=np.int64).reshape(num, 4)


def _adjacent_pairs(labels: np.ndarray,
                    num: int) -> Tuple[np.ndarray, np.ndarray]:
    """Sorted unique ``(lo, hi)`` label pairs touching horizontally or
    vertically, from shifted label maps."""
    firsts = [labels[:, :-1], labels[:-1, :]]
    seconds = [labels[:, 1:], labels[1:, :]]
    a = np.concatenate([f.ravel() for f in firsts])
    b = np.concatenate([s.ravel() for s in seconds])
    diff = a != b
    a, b = a[diff], b[diff]
    keys = np.unique(np.minimum(a, b) * num + np.maximum(a, b))
    return keys // num, keys % num


def _bbox_pairs(labels: np.ndarray, boxes: np.ndarray,
                num: int) -> Tuple[np.ndarray, np.ndarray]:
    """The released neighbour heuristic, vectorised (see module doc)."""
    first = np.unique(labels.ravel(), return_index=True)[1]
    order = np.argsort(first, kind='stable')  # labels by first appearance
    x0, y0, x1, y1 = (boxes[order, k] for k in range(4))
    los, his = [], []
    for start in range(0, num, _BBOX_BLOCK):
        rows = slice(start, min(start + _BBOX_BLOCK, num))
        # a = earlier region (rows), b = later region (columns)
        ax0, ax1 = x0[rows, None], x1[rows, None]
        ay0, ay1 = y0[rows, None], y1[rows, None]
        in_x = ((ax0 < x0) & (x0 < ax1)) | ((ax0 < x1) & (x1 < ax1))
        in_y = ((ay0 < y0) & (y0 < ay1)) | ((ay0 < y1) & (y1 < ay1))
        hit = in_x & in_y
        rank_a = np.arange(rows.start, rows.stop)[:, None]
        hit &= rank_a < np.arange(num)[None, :]
        ra, rb = np.nonzero(hit)
        a, b = order[ra + start], order[rb]
        los.append(np.minimum(a, b))
        his.append(np.maximum(a, b))
    keys = np.unique(np.concatenate(los) * num + np.concatenate(his))
    return keys // num, keys % num


class _Regions:
    """Growable region table: integer histograms, sizes and boxes."""

    def __init__(self, sizes: np.ndarray, hist_c: np.ndarray,
                 hist_t: np.ndarray, boxes: np.ndarray, imsize: int) -> None:
        num = len(sizes)
        cap = max(2 * num - 1, 1)
        self.size = np.zeros(cap, np.int64)
        self.hist_c = np.zeros((cap, hist_c.shape[1]), np.int64)
        self.hist_t = np.zeros((cap, hist_t.shape[1]), np.int64)
        self.box = np.zeros((cap, 4), np.int64)
        self.size[:num] = sizes
        self.hist_c[:num] = hist_c
        self.hist_t[:num] = hist_t
        self.box[:num] = boxes
        self.imsize = imsize
        self.num = num

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Similarity of regions ``a[k]`` and ``b[k]`` (float64)."""
        sa, sb = self.size[a], self.size[b]
        prod = sa * sb
        col = np.minimum(self.hist_c[a] * sb[:, None],
                         self.hist_c[b] * sa[:, None]).sum(1) / prod
        tex = np.minimum(self.hist_t[a] * sb[:, None],
                         self.hist_t[b] * sa[:, None]).sum(1) / prod
        size = 1.0 - (sa + sb) / self.imsize
        ba, bb = self.box[a], self.box[b]
        lo = np.minimum(ba[:, :2], bb[:, :2])
        hi = np.maximum(ba[:, 2:], bb[:, 2:])
        ext = hi - lo
        fill = 1.0 - (ext[:, 0] * ext[:, 1] - sa - sb) / self.imsize
        return col + tex + size + fill

    def merge(self, i: int, j: int) -> int:
        """Append the union of regions ``i`` and ``j``; return its id."""
        t = self.num
        self.size[t] = self.size[i] + self.size[j]
        self.hist_c[t] = self.hist_c[i] + self.hist_c[j]
        self.hist_t[t] = self.hist_t[i] + self.hist_t[j]
        bi, bj = self.box[i], self.box[j]
        self.box[t, :2] = np.minimum(bi[:2], bj[:2])
        self.box[t, 2:] = np.maximum(bi[2:], bj[2:])
        self.num = t + 1
        return t

    def xywh(self) -> np.ndarray:
        box = self.box[:self.num]
        return np.concatenate([box[:, :2], box[:, 2:] - box[:, :2]], axis=1)


def _group(regions: _Regions, lo: np.ndarray, hi: np.ndarray) -> None:
    """Greedy hierarchical grouping with a lazily pruned max-heap.

    The heap holds ``(-similarity, lo_id, hi_id)``; an entry whose regions
    were merged away is stale and skipped when popped, so the valid entries
    are always exactly the current similarity table.
    """
    nbrs: List[Set[int]] = [set() for _ in range(regions.num)]
    lo_l, hi_l = lo.tolist(), hi.tolist()
    for a, b in zip(lo_l, hi_l):
        nbrs[a].add(b)
        nbrs[b].add(a)
    sims = regions.similarity(lo, hi)
    heap = list(zip((-sims).tolist(), lo_l, hi_l))
    heapq.heapify(heap)
    alive = [True] * regions.num
    while heap:
        _, i, j = heapq.heappop(heap)
        if not (alive[i] and alive[j]):
            continue
        t = regions.merge(i, j)
        alive[i] = alive[j] = False
        alive.append(True)
        merged = nbrs[i] | nbrs[j]
        merged.discard(i)
        merged.discard(j)
        nbrs[i] = nbrs[j] = set()
        for k in merged:
            ks = nbrs[k]
            ks.discard(i)
            ks.discard(j)
            ks.add(t)
        nbrs.append(merged)
        if merged:
            others = np.fromiter(merged, np.int64, len(merged))
            new = regions.similarity(others, np.full_like(others, t))
            for neg, k in zip((-new).tolist(), others.tolist()):
                heapq.heappush(heap, (neg, k, t))


def selective_search(img_rgb: np.ndarray,
                     scale: float = 300,
                     sigma: float = 0.9,
                     min_size: int = 100,
                     colour_hist: str = 'soco',
                     neighbours: str = 'bbox') -> np.ndarray:
    """SoCo's selective search (vectorised; see the module doc).

    Args:
        img_rgb (np.ndarray): ``[H, W, 3]`` uint8 RGB image, original
            resolution.
        scale (float): Felzenszwalb ``scale`` (k). Defaults to 300 (SoCo).
        sigma (float): Felzenszwalb Gaussian sigma. Defaults to 0.9 (SoCo).
        min_size (int): Felzenszwalb minimum component size. Defaults to
            100 (SoCo).
        colour_hist (str): ``'soco'`` (released binning, H and S collapse
            into one bin) or ``'hsv'``. Defaults to ``'soco'``.
        neighbours (str): ``'adjacency'`` (4-connected regions) or
            ``'bbox'`` (released box-corner heuristic). Defaults to
            ``'bbox'``.

    Returns:
        np.ndarray: ``[R, 4]`` int64 ``(x, y, w, h)`` of all initial and
        merged regions, ordered by region id, ``w = max_x - min_x``.
    """
    img = _check_args(img_rgb, colour_hist, neighbours)
    labels = _segment(img, scale, sigma, min_size)
    height, width = labels.shape
    num = int(labels.max()) + 1
    flat = labels.ravel()
    sizes = np.bincount(flat, minlength=num)
    hist_c = _colour_histograms(img, flat, num, sizes, colour_hist)
    hist_t = _texture_histograms(img, flat, num)
    boxes = _bboxes(labels, num)
    regions = _Regions(sizes, hist_c, hist_t, boxes, height * width)
    if neighbours == 'adjacency':
        lo, hi = _adjacent_pairs(labels, num)
    else:
        lo, hi = _bbox_pairs(labels, boxes, num)
    _group(regions, lo, hi)
    return regions.xywh()


# --------------------------------------------------------------------------
# Pure-Python reference (tests and benchmarks only)
# --------------------------------------------------------------------------
def _sim_py(r1: dict, r2: dict, imsize: int) -> float:
    s1, s2 = r1['size'], r2['size']
    col = 0
    for a, b in zip(r1['hist_c'], r2['hist_c']):
        col += min(a * s2, b * s1)
    tex = 0
    for a, b in zip(r1['hist_t'], r2['hist_t']):
        tex += min(a * s2, b * s1)
    bbox = ((max(r1['max_x'], r2['max_x']) - min(r1['min_x'], r2['min_x'])) *
            (max(r1['max_y'], r2['max_y']) - min(r1['min_y'], r2['min_y'])))
    return (col / (s1 * s2) + tex / (s1 * s2) + (1.0 - (s1 + s2) / imsize) +
            (1.0 - (bbox - s1 - s2) / imsize))


def _selective_search_reference(img_rgb: np.ndarray,
                                scale: float = 300,
                                sigma: float = 0.9,
                                min_size: int = 100,
                                colour_hist: str = 'soco',
                                neighbours: str = 'bbox') -> np.ndarray:
    """Straightforward pure-Python version of :func:`selective_search`.

    Same arguments, same output. Structured like the released code: a
    per-pixel loop for the boxes, one boolean mask and ``np.histogram`` per
    region, a dict of pair similarities whose maximum is searched at every
    merge. Only for tests and speed comparisons.
    """
    img = _check_args(img_rgb, colour_hist, neighbours)
    labels = _segment(img, scale, sigma, min_size)
    height, width = labels.shape
    imsize = height * width
    hsv = _hsv(img)
    lbp = [_lbp(img, c) for c in range(3)]
    rows = labels.tolist()

    regions: Dict[int, dict] = {}
    for y, row in enumerate(rows):
        for x, label in enumerate(row):
            r = regions.get(label)
            if r is None:
                regions[label] = dict(min_x=x, min_y=y, max_x=x, max_y=y)
                continue
            if x < r['min_x']:
                r['min_x'] = x
            if x > r['max_x']:
                r['max_x'] = x
            if y > r['max_y']:
                r['max_y'] = y
    for label, r in regions.items():
        mask = labels == label
        r['size'] = int(mask.sum())
        r['hist_c'] = []
        for c, rng in enumerate(COLOUR_RANGES[colour_hist]):
            r['hist_c'] += np.histogram(hsv[..., c][mask], COLOUR_BINS,
                                        rng)[0].tolist()
        r['hist_t'] = []
        for c in range(3):
            r['hist_t'] += np.histogram(lbp[c][mask], TEXTURE_BINS,
                                        TEXTURE_RANGE)[0].tolist()

    pairs = set()
    if neighbours == 'adjacency':
        for y in range(height):
            row = rows[y]
            below = rows[y + 1] if y + 1 < height else None
            for x in range(width):
                label = row[x]
                if x + 1 < width and row[x + 1] != label:
                    other = row[x + 1]
                    pairs.add((min(label, other), max(label, other)))
                if below is not None and below[x] != label:
                    other = below[x]
                    pairs.add((min(label, other), max(label, other)))
    else:
        order = list(regions)  # dict order = first appearance
        for p, la in enumerate(order):
            a = regions[la]
            for lb in order[p + 1:]:
                b = regions[lb]
                in_x = (a['min_x'] < b['min_x'] < a['max_x']
                        or a['min_x'] < b['max_x'] < a['max_x'])
                in_y = (a['min_y'] < b['min_y'] < a['max_y']
                        or a['min_y'] < b['max_y'] < a['max_y'])
                if in_x and in_y:
                    pairs.add((min(la, lb), max(la, lb)))

    sims = {}
    for i, j in sorted(pairs):
        sims[(i, j)] = _sim_py(regions[i], regions[j], imsize)
    new_id = len(regions)
    while sims:
        i, j = max(sims, key=lambda k: (sims[k], -k[0], -k[1]))
        ri, rj = regions[i], regions[j]
        merged = dict(
            min_x=min(ri['min_x'], rj['min_x']),
            min_y=min(ri['min_y'], rj['min_y']),
            max_x=max(ri['max_x'], rj['max_x']),
            max_y=max(ri['max_y'], rj['max_y']),
            size=ri['size'] + rj['size'],
            hist_c=[a + b for a, b in zip(ri['hist_c'], rj['hist_c'])],
            hist_t=[a + b for a, b in zip(ri['hist_t'], rj['hist_t'])])
        regions[new_id] = merged
        touching = set()
        for key in list(sims):
            if i in key or j in key:
                del sims[key]
                touching.update(key)
        touching -= {i, j}
        for k in touching:
            sims[(k, new_id)] = _sim_py(regions[k], merged, imsize)
        new_id += 1

    return np.array(
        [[r['min_x'], r['min_y'], r['max_x'] - r['min_x'],
          r['max_y'] - r['min_y']] for _, r in sorted(regions.items())],
        dtype=np.int64).reshape(-1, 4)
