# Copyright (c) mmalfm contributors. All rights reserved.
"""Browse a pretraining config's views: pick images, run the config's
``MultiViewCrop`` on them and draw each with :class:`RegionViewVisualizer`
(``docs/advanced_guides/browse_views.md``)."""
import os.path as osp
import warnings
from typing import List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config

from mmalfm.datasets import ProposalDataset, UnlabeledImageDataset
from mmalfm.datasets.transforms import LoadImageWithCheck
from mmalfm.structures import ViewGeometry
from .layout import panel_layout
from .region_rows import info_text, pair_summaries
from .region_view_visualizer import NO_REGIONS, RegionViewVisualizer
from .view_pipeline import build_view_transform, config_name

#: Proposals drawn at random when selective search is unavailable.
NUM_RANDOM_PROPOSALS = 64


def build_image_dataset(data_root: str,
                        ann_file: str,
                        img_prefix: str,
                        proposal_file: Optional[str] = None):
    """The image list (``UnlabeledImageDataset``), joined with
    ``proposal_file`` by ``ProposalDataset`` when one is given."""
    image_cfg = dict(
        ann_file=ann_file,
        data_root=data_root,
        data_prefix=dict(img_path=img_prefix),
        serialize_data=False)
    if proposal_file:
        return ProposalDataset(
            dataset=dict(type='UnlabeledImageDataset', **image_cfg),
            proposal_file=proposal_file,
            serialize_data=False)
    return UnlabeledImageDataset(**image_cfg)


def stand_in_proposals(img_hw: Tuple[int, int],
                       rng: np.random.Generator) -> np.ndarray:
    """:data:`NUM_RANDOM_PROPOSALS` random source boxes (sides 10-60 % of
    the image), ``[P, 4]`` xyxy float32."""
    h, w = img_hw
    wh = rng.uniform(0.1, 0.6, (NUM_RANDOM_PROPOSALS, 2)) * (w, h)
    xy = rng.random((NUM_RANDOM_PROPOSALS, 2)) * ((w, h) - wh)
    return np.concatenate([xy, xy + wh], 1).astype(np.float32)


def compute_proposals(img_bgr: np.ndarray, rng: np.random.Generator
                      ) -> Tuple[np.ndarray, str]:
    """Selective-search proposals of one image (SoCo's recipe and its
    ``filter_post`` filter, ``mmalfm.datasets.proposals``).

    Falls back to :func:`stand_in_proposals`, with a warning, when
    ``mmalfm.datasets.proposals`` cannot be imported.

    Returns:
        tuple[np.ndarray, str]: ``[P, 4]`` float32 xyxy source boxes and
        where they come from (``'selective search'`` or ``'random'``).
    """
    try:
        from mmalfm.datasets.proposals import (filter_post, selective_search,
                                               xywh_to_xyxy)
    except ImportError as e:
        warnings.warn(
            f'browse_views: selective search is not importable ({e}); using '
            f'{NUM_RANDOM_PROPOSALS} random boxes as stand-in proposals')
        return stand_in_proposals(img_bgr.shape[:2], rng), 'random'
    h, w = img_bgr.shape[:2]
    xywh = selective_search(np.ascontiguousarray(img_bgr[..., ::-1]))
    return xywh_to_xyxy(filter_post(xywh, w, h)), 'selective search'


def _relative(img_path: str, data_root: str, img_prefix: str) -> str:
    """Image path relative to the image folder (for names and titles)."""
    base = osp.join(data_root, img_prefix)
    rel = osp.relpath(img_path, base) if base else img_path
    return img_path if rel.startswith('..') else rel


def browse_views(config: Union[str, Config],
                 out: str,
                 data_root: str = 'data/demo/coco',
                 ann_file: str = 'annotations/instances_train2017.json',
                 img_prefix: str = 'train2017/',
                 proposal_file: Optional[str] = None,
                 num: int = 8,
                 seed: int = 0,
                 scale: int = 2,
                 cfg_options: Optional[dict] = None) -> List[dict]:
    """Draw ``num`` images with the views of ``config``'s pipeline.

    The images are picked from ``seed``; the views of image ``i`` depend
    only on ``(seed, i)``. Proposals, when the config's region sampler
    needs them, come from ``proposal_file`` or else from
    :func:`compute_proposals` on each chosen image.

    Args:
        config (str | Config): Pretraining config (``mmalfm::...`` too).
        out (str): Output folder; the PNGs go to ``out/<config name>/``.
        data_root (str): Root of ``ann_file`` and ``img_prefix``.
        ann_file (str): COCO json or image list; ``''`` scans the folder.
        img_prefix (str): Image folder under ``data_root``.
        proposal_file (str, optional): Proposal file (either format
            ``ProposalDataset`` reads).
        num (int): Images to draw.
        seed (int): Picks the images and seeds their views.
        scale (int): Integer view upscaling.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        list[dict]: Per image: ``path`` (the PNG), ``img_path``,
        ``geometry`` (:class:`ViewGeometry`, float64, batch ``[K]``),
        ``regions`` (``Regions.to_dict()``), ``layout`` (the panel
        layout), ``scale``, ``pairs`` (pair summaries) and ``proposals``
        (their source: ``'file'``, ``'selective search'``, ``'random'`` or
        None).
    """
    if num < 1 or scale < 1 or seed < 0:
        raise ValueError(f'num and scale must be >= 1 and seed >= 0, got '
                         f'num={num}, scale={scale}, seed={seed}')
    transform, cfg = build_view_transform(config, cfg_options)
    name = config_name(cfg)
    needs_proposals = bool(
        getattr(transform.region_sampler, 'needs_proposals', False))
    if proposal_file and not needs_proposals:
        warnings.warn(f'browse_views: the proposal file is ignored, the '
                      f'region sampler of {name} does not use proposals')
    dataset = build_image_dataset(data_root, ann_file, img_prefix,
                                  proposal_file if needs_proposals else None)
    loader = LoadImageWithCheck(skip_corrupt=False)
    visualizer = RegionViewVisualizer(name=f'browse_views_{name}',
                                      scale=scale)
    rng = np.random.default_rng(seed)
    chosen = sorted(
        rng.choice(len(dataset), min(num, len(dataset)),
                   replace=False).tolist())
    out_dir = osp.join(out, name)
    records = []
    for idx in chosen:
        info = dataset.get_data_info(idx)
        results = loader(dict(info))
        img = results['img']
        source = None
        if needs_proposals:
            source = 'file' if proposal_file else None
            if source is None:
                results['proposals'], source = compute_proposals(
                    img, np.random.default_rng([seed, idx]))
            num_props = len(results['proposals'])
        # MultiViewCrop seeds its generator from the global numpy state
        np.random.seed([seed, idx])
        results = transform(results)
        rel = _relative(info['img_path'], data_root, img_prefix)
        h, w = img.shape[:2]
        title = f'{name}: {rel} ({w}x{h})'
        if source is not None:
            title += f'  proposals: {num_props} ({source})'
        regions = results.get('regions', NO_REGIONS)
        extra = info_text(regions['info'])
        if extra:
            title += '  ' + extra
        png = osp.join(
            out_dir,
            osp.splitext(rel.replace('/', '_').replace('\\', '_'))[0] +
            '.png')
        visualizer.add_datasample(rel, img, results, out_file=png,
                                  title=title)
        geometry = ViewGeometry.from_dict(
            results['view_geometry'], dtype=torch.float64)
        view_wh = [(v.shape[1], v.shape[0]) for v in results['img']]
        records.append(
            dict(
                path=png,
                img_path=info['img_path'],
                geometry=geometry,
                regions=regions,
                layout=panel_layout(img.shape[:2], view_wh, scale),
                scale=scale,
                pairs=pair_summaries(regions),
                proposals=source))
    return records
