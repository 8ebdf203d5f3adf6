# Copyright (c) mmalfm contributors. All rights reserved.
"""Draw the views of one image and the regions matched across them."""
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import mmcv
import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.visualization import Visualizer

from mmalfm.registry import VISUALIZERS
from mmalfm.structures import ViewGeometry, src_to_view
from .colours import BACKGROUND, CROP_COLOUR, id_colour
from .drawing import (Rect, double_arrow, draw_box, draw_id_label,
                      free_spot, line_thickness, put_text, rect_pixels,
                      text_width)
from .layout import (HEADER_H, LABEL_H, LEGEND_LINE_H, MARGIN,
                     MAX_LABELLED_IDS, canvas_height, panel_layout)
from .region_rows import DrawnRegion, collect_regions, pair_summaries

#: The ``regions`` of a ``MultiViewCrop`` without a region sampler.
NO_REGIONS = dict(views=[], ids=[], boxes=[], pairs=[], info={})
#: Text of the first legend line.
LEGEND_KEY = ('colour = region id; solid = matched in its pair, dashed = no '
              'partner, grey dashed = negative id; white = view crops')


@VISUALIZERS.register_module()
class RegionViewVisualizer(Visualizer):
    """Draw what ``MultiViewCrop`` gives the model: the views of an image
    and the regions matched across them (``docs/advanced_guides/
    browse_views.md``).

    One picture per image:

    * left: the source image, scaled to the height of the view row, with
      every view's crop (white, labelled ``V<k>``) and every region's
      source box;
    * right: the ``K`` views in one row, each upscaled ``scale`` times
      (nearest), with its regions mapped into it by
      :func:`~mmalfm.structures.src_to_view`;
    * below: one legend line per pair of region sets, ``view a <-> view b:
      n matched ids``, with a colour swatch per matched id, and one per
      local view.

    A region's colour is :func:`~mmalfm.visualization.id_colour` of its id,
    the same in every panel. Solid boxes have a partner in a paired set;
    dashed boxes in their colour have none; negative ids (never match) are
    dashed grey.

    The drawing is OpenCV's, not MMEngine's matplotlib primitives: lines
    are not anti-aliased, so every drawn box pixel holds exactly its id's
    colour (what the tests and a reader's colour picker rely on). The
    class is still an MMEngine ``Visualizer``: it is built from the
    ``VISUALIZERS`` registry, :meth:`get_image` returns the last picture
    (RGB) and :meth:`add_datasample` sends it to the ``vis_backends``.

    Args:
        name (str): Instance name. Defaults to ``'region_view_visualizer'``.
        scale (int): Integer nearest-neighbour upscaling of the views.
            Defaults to 2.
        **kwargs: Passed to :class:`mmengine.visualization.Visualizer`.
    """

    def __init__(self,
                 name: str = 'region_view_visualizer',
                 scale: int = 2,
                 **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        if int(scale) != scale or scale < 1:
            raise ValueError(f'scale must be an integer >= 1, got {scale!r}')
        self.scale = int(scale)

    # ------------------------------------------------------------ drawing
    def draw_views(self,
                   img: np.ndarray,
                   views: Sequence[np.ndarray],
                   geometry: ViewGeometry,
                   regions: dict,
                   title: str = '') -> Tuple[np.ndarray, dict]:
        """Draw the picture of one image; it becomes :meth:`get_image`.

        Args:
            img (np.ndarray): ``[H, W, 3]`` BGR source image.
            views (Sequence[np.ndarray]): The ``K`` BGR views
                (``[h_k, w_k, 3]``).
            geometry (ViewGeometry): Their geometry, batch ``[K]``.
            regions (dict): ``Regions.to_dict()`` output.
            title (str): Header text.

        Returns:
            tuple[np.ndarray, dict]: The BGR canvas and its
            :func:`~mmalfm.visualization.layout.panel_layout`.
        """
        scale = self.scale
        view_wh = [(v.shape[1], v.shape[0]) for v in views]
        layout = panel_layout(img.shape[:2], view_wh, scale)
        all_regions = collect_regions(regions)
        pairs = pair_summaries(regions)
        local_sets = list(regions['info'].get('local_sets', []))
        height = canvas_height(layout['row_h'],
                               1 + len(pairs) + len(local_sets))
        canvas = np.full((height, layout['width'], 3), BACKGROUND, np.uint8)
        put_text(canvas, title, (MARGIN, HEADER_H - 8), size=0.5)
        self._draw_source(canvas, img, geometry, all_regions, layout)
        for k, view in enumerate(views):
            self._draw_view(canvas, k, view, geometry,
                            [r for r in all_regions if r.view == k],
                            layout['views'][k])
        y = HEADER_H + LABEL_H + layout['row_h'] + MARGIN + LEGEND_LINE_H - 6
        put_text(canvas, LEGEND_KEY, (MARGIN, y), size=0.4)
        for p in pairs:
            y += LEGEND_LINE_H
            self._draw_pair_line(canvas, p, y, layout['width'])
        for s in local_sets:
            y += LEGEND_LINE_H
            view = int(regions['views'][s])
            ids = np.asarray(regions['ids'][s]).tolist()
            text = (f'view {view}: local crop of region id {ids[0]}' if ids
                    else f'view {view}: local crop without region (whole '
                    'image)')
            put_text(canvas, text, (MARGIN, y))
        self.set_image(canvas[..., ::-1])
        return canvas, layout

    def _draw_source(self, canvas: np.ndarray, img: np.ndarray,
                     geometry: ViewGeometry, all_regions: List[DrawnRegion],
                     layout: dict) -> None:
        """The source panel: white view crops labelled ``V<k>`` at their
        bottom-left, and every distinct region's source box."""
        src = layout['src']
        panel = cv2.resize(img, (src['w'], src['h']),
                           interpolation=cv2.INTER_NEAREST)
        f = src['factor']
        crops = geometry.crop.double().numpy()
        placed: List[Rect] = []
        for crop in crops:
            draw_box(panel, crop * f, CROP_COLOUR, 1)
        for k, crop in enumerate(crops):
            # bottom-left inside the crop (region ids go top-left)
            text = f'V{k}' + (' flip' if bool(geometry.flip[k]) else '')
            x1, _, _, y2 = rect_pixels(crop * f)
            x1 = min(max(x1, 0), panel.shape[1] - 1) + 3
            y = free_spot(x1, min(y2, panel.shape[0]) - 4, text_width(text),
                          placed, -13)
            put_text(panel, text, (x1, y), CROP_COLOUR, 0.35,
                     background=(0, 0, 0))
        unique, items = set(), []
        for r in all_regions:
            key = (r.id, r.matched, tuple(np.round(r.box, 2).tolist()))
            if key not in unique:
                unique.add(key)
                items.append((r, r.box * f))
        self._draw_regions(panel, items)
        canvas[src['y']:src['y'] + src['h'],
               src['x']:src['x'] + src['w']] = panel
        h, w = img.shape[:2]
        put_text(canvas, f'source {w}x{h}', (src['x'], src['y'] - 6))

    def _draw_view(self, canvas: np.ndarray, k: int, view: np.ndarray,
                   geometry: ViewGeometry, mine: List[DrawnRegion],
                   xy: Tuple[int, int]) -> None:
        """View ``k`` upscaled, with the regions of its sets mapped into
        it by ``src_to_view`` (flip included)."""
        scale = self.scale
        x, y = xy
        vh, vw = view.shape[:2]
        panel = cv2.resize(view, (vw * scale, vh * scale),
                           interpolation=cv2.INTER_NEAREST)
        if mine:
            src_boxes = torch.as_tensor(np.stack([r.box for r in mine]))
            in_view = src_to_view(src_boxes,
                                  geometry[k].to(dtype=torch.float64))
            self._draw_regions(
                panel, [(r, b * scale) for r, b in zip(mine, in_view.numpy())])
        canvas[y:y + vh * scale, x:x + vw * scale] = panel
        flip = ' flip' if bool(geometry.flip[k]) else ''
        put_text(canvas, f'V{k} {vw}x{vh}{flip}', (x, y - 6))

    def _draw_regions(self, panel: np.ndarray,
                      items: List[Tuple[DrawnRegion, np.ndarray]]) -> None:
        """Draw ``(region, panel box)`` items in draw order, labels last
        (one per drawn rectangle, listing every id drawn there)."""
        thickness = line_thickness(self.scale)
        items = sorted(items, key=lambda it: it[0].order)
        for r, box in items:
            draw_box(panel, box, id_colour(r.id), thickness,
                     dashed=not r.matched)
        if len({r.id for r, _ in items if r.id >= 0}) > MAX_LABELLED_IDS:
            return
        groups: Dict[Rect, List[int]] = {}
        for r, box in items:
            group = groups.setdefault(rect_pixels(box), [])
            if r.id >= 0 and r.id not in group:
                group.append(r.id)
        placed: List[Rect] = []
        for rect, group in groups.items():
            if group:
                draw_id_label(panel, rect[:2] + (rect[2] + 1, rect[3] + 1),
                              sorted(group), thickness, placed)

    @staticmethod
    def _draw_pair_line(canvas: np.ndarray, pair: dict, y: int,
                        width: int) -> None:
        """``view a <-> view b: n matched ids (rows r_a/r_b)`` and a colour
        swatch per matched id (as many as fit)."""
        a, b = pair['views']
        x = MARGIN
        x += put_text(canvas, f'view {a} ', (x, y))
        x += double_arrow(canvas, x, y)
        n = len(pair['matched'])
        x += put_text(
            canvas, f' view {b}: {n} matched id{"s" if n != 1 else ""} '
            f'(rows {pair["rows"][0]}/{pair["rows"][1]})', (x, y))
        x += 6
        for region_id in pair['matched']:
            if x + 14 > width - MARGIN:
                break
            cv2.rectangle(canvas, (x, y - 10), (x + 10, y),
                          id_colour(region_id), -1, cv2.LINE_8)
            x += 14

    # ------------------------------------------------------ OpenMMLab API
    @master_only
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: Optional[dict] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0,
                       title: str = '') -> np.ndarray:
        """Draw the ``MultiViewCrop`` output of ``image`` and record it.

        Args:
            name (str): Image identifier for the vis backends.
            image (np.ndarray): ``[H, W, 3]`` BGR source image.
            data_sample (dict): ``MultiViewCrop`` results: ``img`` (the
                views), ``view_geometry`` and ``regions`` (none without a
                region sampler: only the views are drawn).
            draw_gt (bool): Unused (no annotations here).
            draw_pred (bool): Unused (no predictions here).
            show (bool): Show the picture in a window.
            wait_time (float): Seconds the window stays open.
            out_file (str, optional): Write the picture (lossless PNG) there
                instead of sending it to the vis backends.
            step (int): Global step for the vis backends.
            title (str): Header text.

        Returns:
            np.ndarray: The BGR canvas.
        """
        if data_sample is None or not all(
                k in data_sample for k in ('img', 'view_geometry')):
            raise KeyError(
                'RegionViewVisualizer.add_datasample needs the results of '
                "MultiViewCrop ('img', 'view_geometry' and, with a region "
                "sampler, 'regions') as data_sample")
        geometry = ViewGeometry.from_dict(
            data_sample['view_geometry'], dtype=torch.float64)
        canvas, _ = self.draw_views(image, data_sample['img'], geometry,
                                    data_sample.get('regions', NO_REGIONS),
                                    title)
        if show:
            self.show(canvas[..., ::-1], win_name=name, wait_time=wait_time)
        if out_file is not None:
            if not mmcv.imwrite(canvas, out_file):
                raise OSError(f'could not write {out_file!r}')
        else:
            self.add_image(name, canvas[..., ::-1], step)
        return canvas
