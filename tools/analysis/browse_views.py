# Copyright (c) mmalfm contributors. All rights reserved.
"""Draw a method's views and regions, to check matching by eye.

Usage::

    python tools/analysis/browse_views.py \
        --method soco|soco-star|crosscl|dupr|alfm \
        [--data-root data/demo/coco] \
        [--ann-file annotations/instances_train2017.json] \
        [--img-prefix train2017/] [--proposals FILE.json] [--num 8] \
        [--seed 0] [--out work_dirs/browse_views] [--scale 2]

For ``--num`` images (picked and augmented deterministically from
``--seed``) the tool runs the method's geometric pipeline
(:class:`~mmalfm.datasets.transforms.MultiViewCrop` with the method's region
sampler, :data:`PRESETS`; no photometric augmentation) and writes one PNG
per image to ``OUT/METHOD/``:

* left: the source image, scaled to the height of the view row, with every
  view's crop (white, labelled ``V<k>``) and every region's source box;
* right: the ``K`` views in one row, each upscaled ``--scale`` times
  (nearest), with its regions mapped into it by
  :func:`~mmalfm.structures.src_to_view`;
* below: one legend line per pair of region sets, ``view a <-> view b: n
  matched ids``, with a colour swatch per matched id.

A region's colour is a function of its id only (:func:`id_colour`), so the
same id has the same colour in every panel. Solid boxes have a partner in
the paired set; dashed boxes in their colour have none; negative ids (never
match: SoCo's fallback box, invalid CrossCL key windows) are dashed grey.
See ``docs/advanced_guides/browse_views.md``.

Proposals (SoCo, SoCo*, ALFM): ``--proposals FILE`` (either format that
:class:`~mmalfm.datasets.ProposalDataset` reads) or, without it, selective
search on just the chosen images (``mmalfm.datasets.proposals``; if that is
not importable, random boxes with a warning).
"""
import argparse
import colorsys
import copy
import os
import os.path as osp
import sys
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.datasets import (ProposalDataset,  # noqa: E402
                             UnlabeledImageDataset)
from mmalfm.datasets.transforms import (LoadImageWithCheck,  # noqa: E402
                                        MultiViewCrop)
from mmalfm.structures import ViewGeometry, src_to_view  # noqa: E402

# ----------------------------------------------------------------- presets
#: ``MultiViewCrop`` arguments per method (geometry only), mirroring the
#: configs (``configs/<method>/README.md``): SoCo in its code behaviour (V3
#: an independent 112 crop), SoCo*, CrossCL, DUPR, ALFM.
PRESETS: Dict[str, dict] = {
    'soco':
    dict(
        views=[
            dict(kind='whole', size=224),
            dict(kind='resized_crop', size=224, scale=(0.5, 1.)),
            dict(kind='resized_crop', size=112, scale=(0.5, 1.)),
        ],
        region_sampler=dict(type='SoCoRegionSampler', pairs=((0, 1),
                                                             (0, 2))),
        max_tries=5),
    'soco-star':
    dict(
        views=[
            dict(kind='whole', size=224),
            dict(kind='resized_crop', size=224, scale=(0.5, 1.)),
            dict(kind='resized_crop', size=192, scale=(0.5, 1.)),
            dict(kind='resize_of', source=1, size=112),
        ],
        region_sampler=dict(
            type='SoCoRegionSampler',
            pairs=((0, 1), (0, 2), (0, 3)),
            share_subset={3: 1}),
        max_tries=5),
    'crosscl':
    dict(
        views=[dict(kind='resized_crop', size=224, scale=(0.2, 1.), num=2)],
        flip='shared',
        region_sampler=dict(
            type='CrossCLWindowSampler', view_size=224, window=48,
            stride=32)),
    'dupr':
    dict(
        views=[dict(kind='resized_crop', size=224, scale=(0.2, 1.), num=2)],
        region_sampler=dict(
            type='DUPRGridSampler', grid=4, min_overlap=0.1),
        max_tries=10),
    'alfm':
    dict(
        views=[
            dict(kind='resized_crop', size=224, scale=(0.3, 1.), num=2),
            dict(kind='region_crop', size=96, num=4),
        ],
        region_sampler=dict(type='ALFMRegionSampler', num_regions=4)),
}

# ------------------------------------------------------------------ layout
#: Gap between panels and around the picture, in canvas pixels.
MARGIN = 8
#: Height of the title line at the top.
HEADER_H = 24
#: Height of the label strip above each panel.
LABEL_H = 20
#: Height of one legend line below the panels.
LEGEND_LINE_H = 20
#: Canvas background (BGR).
BACKGROUND = (40, 40, 40)
#: Colour of negative ids (BGR).
GREY = (150, 150, 150)
#: Colour of the view crops drawn on the source panel (BGR).
CROP_COLOUR = (255, 255, 255)
TEXT_COLOUR = (235, 235, 235)
FONT = cv2.FONT_HERSHEY_SIMPLEX
#: Ids are written next to their boxes when a panel has at most this many.
MAX_LABELLED_IDS = 16
#: Dash and gap lengths of dashed boxes, in canvas pixels.
DASH, GAP = 6, 4
#: Proposals drawn at random when selective search is unavailable.
NUM_RANDOM_PROPOSALS = 64


def id_colour(region_id: int) -> Tuple[int, int, int]:
    """The BGR colour of a region id (grey for negative ids).

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


def line_thickness(scale: int) -> int:
    """Box line thickness in canvas pixels for a view ``scale``."""
    return 1 if scale <= 1 else 2


# ------------------------------------------------------------------- data
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Draw the views and regions of a method, to check the '
        'geometry and the region matching by eye')
    parser.add_argument(
        '--method', required=True, choices=sorted(PRESETS),
        help='geometric pipeline preset')
    parser.add_argument('--data-root', default='data/demo/coco')
    parser.add_argument(
        '--ann-file', default='annotations/instances_train2017.json',
        help='COCO json or image list under --data-root; "" scans the '
        'image folder')
    parser.add_argument('--img-prefix', default='train2017/')
    parser.add_argument(
        '--proposals', default=None,
        help='proposal file (mmalfm or SoCo format); without it, selective '
        'search runs on the chosen images when the method needs proposals')
    parser.add_argument('--num', type=int, default=8, help='images to draw')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default='work_dirs/browse_views')
    parser.add_argument(
        '--scale', type=int, default=2,
        help='integer nearest-neighbour upscaling of the views')
    args = parser.parse_args(argv)
    if args.num < 1 or args.scale < 1 or args.seed < 0:
        parser.error('--num and --scale must be >= 1, --seed >= 0')
    return args


def build_transform(method: str) -> MultiViewCrop:
    """The method's ``MultiViewCrop`` (see :data:`PRESETS`)."""
    return MultiViewCrop(**copy.deepcopy(PRESETS[method]))


def build_dataset(args: argparse.Namespace, needs_proposals: bool):
    """The image list, joined with ``--proposals`` when it is used."""
    image_cfg = dict(
        type='UnlabeledImageDataset',
        ann_file=args.ann_file,
        data_root=args.data_root,
        data_prefix=dict(img_path=args.img_prefix),
        serialize_data=False)
    if needs_proposals and args.proposals:
        return ProposalDataset(
            dataset=image_cfg, proposal_file=args.proposals,
            serialize_data=False)
    cfg = dict(image_cfg)
    cfg.pop('type')
    return UnlabeledImageDataset(**cfg)


def _stand_in_proposals(img_hw: Tuple[int, int],
                        rng: np.random.Generator) -> np.ndarray:
    """Random source boxes (sides 10-60 % of the image), xyxy float32."""
    h, w = img_hw
    wh = rng.uniform(0.1, 0.6, (NUM_RANDOM_PROPOSALS, 2)) * (w, h)
    xy = rng.random((NUM_RANDOM_PROPOSALS, 2)) * ((w, h) - wh)
    return np.concatenate([xy, xy + wh], 1).astype(np.float32)


def compute_proposals(img_bgr: np.ndarray, rng: np.random.Generator
                      ) -> Tuple[np.ndarray, str]:
    """Selective-search proposals of one image (SoCo's recipe and filter).

    Falls back to random boxes, with a warning, when
    ``mmalfm.datasets.proposals`` cannot be imported.

    Returns:
        tuple[np.ndarray, str]: ``[P, 4]`` float32 xyxy source boxes and
        where they come from.
    """
    try:
        from mmalfm.datasets.proposals import filter_post, selective_search
    except ImportError as e:
        warnings.warn(
            f'browse_views: selective search is not importable ({e}); using '
            f'{NUM_RANDOM_PROPOSALS} random boxes as stand-in proposals')
        return _stand_in_proposals(img_bgr.shape[:2], rng), 'random'
    h, w = img_bgr.shape[:2]
    xywh = selective_search(np.ascontiguousarray(img_bgr[..., ::-1]))
    xywh = np.asarray(filter_post(xywh, w, h), dtype=np.float32)
    xywh = xywh.reshape(-1, 4)
    # continuous corners: (x, y, x + w, y + h), as ProposalDataset reads
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]],
                          1), 'selective search'


# ---------------------------------------------------------------- drawing
def _rect_pixels(box: Sequence[float]) -> Tuple[int, int, int, int]:
    """Continuous-corner box -> inclusive pixel corners for cv2."""
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    return x1, y1, max(x2 - 1, x1), max(y2 - 1, y1)


def draw_box(img: np.ndarray, box: Sequence[float], colour: Tuple[int, ...],
             thickness: int, dashed: bool = False) -> None:
    """Draw a continuous-corner box (canvas pixels), solid or dashed.

    Lines are not anti-aliased, so the drawn pixels hold exactly
    ``colour``.
    """
    x1, y1, x2, y2 = _rect_pixels(box)
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


def _draw_label(img: np.ndarray, box: Sequence[float], ids: Sequence[int],
                thickness: int, placed: List[Tuple[int, int, int, int]]
                ) -> None:
    """The ids of one drawn box (several when boxes coincide), each in its
    colour, inside the box's top-left corner and off its edge; moved down
    while it would cover a label in ``placed`` (which it joins)."""
    x1, y1, _, _ = _rect_pixels(box)
    h, w = img.shape[:2]
    x0 = min(max(x1, 0), w - 1) + thickness + 2
    y = min(max(y1, 0), h - 1) + thickness + 11
    texts = [str(i) + (',' if k < len(ids) - 1 else '')
             for k, i in enumerate(ids)]
    width = sum(cv2.getTextSize(t, FONT, 0.35, 1)[0][0] for t in texts)
    y = _free_spot(x0, y, width, placed, 13)
    x = x0
    for region_id, text in zip(ids, texts):
        x += put_text(img, text, (x, y), id_colour(region_id), 0.35,
                      background=_label_background(id_colour(region_id)))


def _free_spot(x: int, y: int, width: int,
               placed: List[Tuple[int, int, int, int]], step: int) -> int:
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


def _label_background(colour: Tuple[int, int, int]) -> Tuple[int, int, int]:
    """Black behind light colours, light grey behind dark ones."""
    b, g, r = colour
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 110 else \
        (225, 225, 225)


def _double_arrow(img: np.ndarray, x: int, y: int, length: int = 22) -> int:
    """Draw a ``<->`` arrow whose left end is at ``(x, y)``; its length."""
    a, b = (x + 2, y - 4), (x + length - 2, y - 4)
    cv2.arrowedLine(img, a, b, TEXT_COLOUR, 1, cv2.LINE_AA, tipLength=0.3)
    cv2.arrowedLine(img, b, a, TEXT_COLOUR, 1, cv2.LINE_AA, tipLength=0.3)
    return length


class _Region:
    """One row of a region set, ready to draw."""

    def __init__(self, set_index: int, view: int, region_id: int,
                 box: np.ndarray, matched: bool) -> None:
        self.set_index = set_index
        self.view = view
        self.id = region_id
        self.box = box  # source pixels
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


def collect_regions(regions: dict) -> List[_Region]:
    """All rows of all sets, each marked matched or not.

    A non-negative id of a set is matched when a set paired with it holds
    the same id; a set in no pair (ALFM's local views) is matched to every
    paired set.
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
                _Region(s, int(view), int(region_id),
                        np.asarray(box, dtype=np.float64),
                        region_id >= 0 and region_id in other_ids))
    return out


def _draw_regions(panel: np.ndarray, items: List[Tuple[_Region, np.ndarray]],
                  thickness: int) -> None:
    """Draw ``(region, canvas box)`` items in draw order, labels last."""
    items = sorted(items, key=lambda it: it[0].order)
    ids = {r.id for r, _ in items if r.id >= 0}
    for r, box in items:
        colour = id_colour(r.id)
        draw_box(panel, box, colour, thickness, dashed=not r.matched)
    if len(ids) <= MAX_LABELLED_IDS:
        # one label per drawn rectangle, listing every id drawn there
        groups: Dict[Tuple[int, ...], List[int]] = {}
        for r, box in items:
            group = groups.setdefault(_rect_pixels(box), [])
            if r.id >= 0 and r.id not in group:
                group.append(r.id)
        placed: List[Tuple[int, int, int, int]] = []
        for rect, group in groups.items():
            if group:
                _draw_label(panel, rect[:2] + (rect[2] + 1, rect[3] + 1),
                            sorted(group), thickness, placed)


def pair_summaries(regions: dict) -> List[dict]:
    """One dict per pair: views, set indices, rows and matched ids."""
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


def _info_text(info: Dict[str, Any]) -> str:
    """Scalar entries of ``regions['info']`` as ``k=v`` text."""
    parts = []
    for k, v in info.items():
        if isinstance(v, (bool, int, float, np.integer, np.floating, str)):
            v = f'{v:.2f}' if isinstance(v, (float, np.floating)) else v
            parts.append(f'{k}={v}')
        elif k == 'num_selected':
            parts.append(f'{k}={list(v)}')
    return ' '.join(parts)


def panel_layout(src_hw: Tuple[int, int], view_wh: Sequence[Tuple[int, int]],
                 scale: int) -> dict:
    """Where every panel goes on the canvas.

    The views keep their relative sizes (all upscaled by ``scale``) and sit
    top-aligned in one row of height ``max(view h) * scale``; the source
    panel is resized to that height.

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


def render(img: np.ndarray, views: List[np.ndarray], geom: ViewGeometry,
           regions: dict, scale: int, title: str,
           legend_note: str = '') -> Tuple[np.ndarray, dict]:
    """Draw the picture of one image.

    Args:
        img (np.ndarray): ``[H, W, 3]`` BGR source image.
        views (list[np.ndarray]): The ``K`` BGR views.
        geom (ViewGeometry): Their geometry, batch ``[K]``.
        regions (dict): ``Regions.to_dict()`` output.
        scale (int): View upscaling.
        title (str): Header text.
        legend_note (str): Extra text for the first legend line.

    Returns:
        tuple[np.ndarray, dict]: The canvas and :func:`panel_layout`.
    """
    view_wh = [(v.shape[1], v.shape[0]) for v in views]
    layout = panel_layout(img.shape[:2], view_wh, scale)
    thickness = line_thickness(scale)
    all_regions = collect_regions(regions)
    pairs = pair_summaries(regions)
    local_sets = list(regions['info'].get('local_sets', []))
    legend = 1 + len(pairs) + len(local_sets)
    height = HEADER_H + LABEL_H + layout['row_h'] + MARGIN + \
        legend * LEGEND_LINE_H + MARGIN
    canvas = np.full((height, layout['width'], 3), BACKGROUND, np.uint8)
    put_text(canvas, title, (MARGIN, HEADER_H - 8), size=0.5)

    # source panel: view crops (white) and every region's source box
    src = layout['src']
    panel = cv2.resize(img, (src['w'], src['h']),
                       interpolation=cv2.INTER_NEAREST)
    f = src['factor']
    crops = geom.crop.double().numpy()
    placed: List[Tuple[int, int, int, int]] = []
    for k, crop in enumerate(crops):
        draw_box(panel, crop * f, CROP_COLOUR, 1)
    for k, crop in enumerate(crops):
        # bottom-left inside the crop (region ids go top-left)
        text = f'V{k}' + (' flip' if bool(geom.flip[k]) else '')
        x1, _, _, y2 = _rect_pixels(crop * f)
        x1 = min(max(x1, 0), panel.shape[1] - 1) + 3
        width = cv2.getTextSize(text, FONT, 0.35, 1)[0][0]
        y = _free_spot(x1, min(y2, panel.shape[0]) - 4, width, placed, -13)
        put_text(panel, text, (x1, y), CROP_COLOUR, 0.35,
                 background=(0, 0, 0))
    unique, items = set(), []
    for r in all_regions:
        key = (r.id, r.matched, tuple(np.round(r.box, 2).tolist()))
        if key not in unique:
            unique.add(key)
            items.append((r, r.box * f))
    _draw_regions(panel, items, thickness)
    canvas[src['y']:src['y'] + src['h'], src['x']:src['x'] + src['w']] = panel
    h, w = img.shape[:2]
    put_text(canvas, f'source {w}x{h}', (src['x'], src['y'] - 6))

    # views: regions of the sets of that view, mapped with src_to_view
    for k, (view, (x, y)) in enumerate(zip(views, layout['views'])):
        vh, vw = view.shape[:2]
        panel = cv2.resize(view, (vw * scale, vh * scale),
                           interpolation=cv2.INTER_NEAREST)
        mine = [r for r in all_regions if r.view == k]
        if mine:
            src_boxes = torch.as_tensor(np.stack([r.box for r in mine]))
            in_view = src_to_view(src_boxes, geom[k].to(dtype=torch.float64))
            items = [(r, b * scale)
                     for r, b in zip(mine, in_view.numpy())]
            _draw_regions(panel, items, thickness)
        canvas[y:y + vh * scale, x:x + vw * scale] = panel
        flip = ' flip' if bool(geom.flip[k]) else ''
        put_text(canvas, f'V{k} {vw}x{vh}{flip}', (x, y - 6))

    # legend
    y = HEADER_H + LABEL_H + layout['row_h'] + MARGIN + LEGEND_LINE_H - 6
    put_text(
        canvas, 'colour = region id; solid = matched in its pair, dashed = '
        'no partner, grey dashed = negative id; white = view crops' +
        legend_note, (MARGIN, y), size=0.4)
    for p in pairs:
        y += LEGEND_LINE_H
        a, b = p['views']
        x = MARGIN
        x += put_text(canvas, f'view {a} ', (x, y))
        x += _double_arrow(canvas, x, y)
        n = len(p['matched'])
        x += put_text(
            canvas, f' view {b}: {n} matched id{"s" if n != 1 else ""} '
            f'(rows {p["rows"][0]}/{p["rows"][1]})', (x, y))
        x += 6
        for region_id in p['matched']:
            if x + 14 > layout['width'] - MARGIN:
                break
            cv2.rectangle(canvas, (x, y - 10), (x + 10, y), id_colour(
                region_id), -1, cv2.LINE_8)
            x += 14
    for s in local_sets:
        y += LEGEND_LINE_H
        view = int(regions['views'][s])
        ids = np.asarray(regions['ids'][s]).tolist()
        text = (f'view {view}: local crop of region id {ids[0]}' if ids else
                f'view {view}: local crop without region (whole image)')
        put_text(canvas, text, (MARGIN, y))
    return canvas, layout


# ------------------------------------------------------------------- main
def _relative(img_path: str, data_root: str, img_prefix: str) -> str:
    """Image path relative to the image folder (for names and titles)."""
    base = osp.join(data_root, img_prefix)
    rel = osp.relpath(img_path, base) if base else img_path
    return img_path if rel.startswith('..') else rel


def main(argv: Optional[Sequence[str]] = None) -> List[dict]:
    """Run the tool.

    Returns:
        list[dict]: Per image: ``path`` (the PNG), ``img_path``,
        ``geometry`` (:class:`ViewGeometry`, float64, batch ``[K]``),
        ``regions`` (``Regions.to_dict()``), ``layout``
        (:func:`panel_layout`), ``scale``, ``pairs``
        (:func:`pair_summaries`) and ``proposals`` (their source).
    """
    args = parse_args(argv)
    transform = build_transform(args.method)
    sampler = transform.region_sampler
    needs_proposals = bool(getattr(sampler, 'needs_proposals', False))
    if args.proposals and not needs_proposals:
        print(f'note: --proposals ignored, {args.method} does not use '
              'proposals')
    dataset = build_dataset(args, needs_proposals)
    loader = LoadImageWithCheck(skip_corrupt=False)
    rng = np.random.default_rng(args.seed)
    chosen = sorted(
        rng.choice(len(dataset), min(args.num, len(dataset)),
                   replace=False).tolist())
    out_dir = osp.join(args.out, args.method)
    os.makedirs(out_dir, exist_ok=True)
    records = []
    for idx in chosen:
        info = dataset.get_data_info(idx)
        results = loader(dict(info))
        img = results['img']
        source = None
        if needs_proposals:
            if args.proposals:
                source = 'file'
            else:
                props, source = compute_proposals(
                    img, np.random.default_rng([args.seed, idx]))
                results['proposals'] = props
            num_props = len(results['proposals'])
        # MultiViewCrop seeds its generator from the global numpy state
        np.random.seed([args.seed, idx])
        results = transform(results)
        geom = ViewGeometry.from_dict(
            results['view_geometry'], dtype=torch.float64)
        regions = results['regions']
        rel = _relative(info['img_path'], args.data_root, args.img_prefix)
        h, w = img.shape[:2]
        title = f'{args.method}: {rel} ({w}x{h})'
        if source is not None:
            title += f'  proposals: {num_props} ({source})'
        info_text = _info_text(regions['info'])
        if info_text:
            title += '  ' + info_text
        canvas, layout = render(img, results['img'], geom, regions,
                                args.scale, title)
        name = osp.splitext(rel.replace('/', '_').replace('\\', '_'))[0]
        path = osp.join(out_dir, f'{name}.png')
        if not cv2.imwrite(path, canvas):
            raise OSError(f'could not write {path!r}')
        pairs = pair_summaries(regions)
        print(path)
        for p in pairs:
            a, b = p['views']
            print(f'  view {a} <-> view {b}: {len(p["matched"])} matched '
                  f'ids {p["matched"]}')
        records.append(
            dict(
                path=path,
                img_path=info['img_path'],
                geometry=geom,
                regions=regions,
                layout=layout,
                scale=args.scale,
                pairs=pairs,
                proposals=source))
    return records


if __name__ == '__main__':
    main()
