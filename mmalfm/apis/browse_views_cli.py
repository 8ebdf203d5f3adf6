# Copyright (c) mmalfm contributors. All rights reserved.
"""Draw a pretraining config's views and regions, to check matching by eye.

Usage::

    python tools/analysis/browse_views.py CONFIG \
        [--data-root data/demo/coco] \
        [--ann-file annotations/instances_train2017.json] \
        [--img-prefix train2017/] [--proposals FILE.json] [--num 8] \
        [--seed 0] [--out work_dirs/browse_views] [--scale 2] \
        [--cfg-options k=v ...]

``CONFIG`` is a method config (``configs/soco/...py`` or
``mmalfm::soco/...``). Its train pipeline's ``MultiViewCrop``, with the
region sampler as configured (no photometric augmentation), runs on
``--num`` images picked from ``--seed``; one PNG per image goes to
``OUT/<config name>/``. The drawing is
:class:`mmalfm.visualization.RegionViewVisualizer`, the loop
:func:`mmalfm.visualization.browse_views`; see
``docs/advanced_guides/browse_views.md``. This module is the command
line ``tools/analysis/browse_views.py``.
"""
import argparse
from typing import List, Optional, Sequence

from mmengine.config import DictAction

from mmalfm.visualization import browse_views


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line (``sys.argv[1:]`` when ``argv`` is None)."""
    parser = argparse.ArgumentParser(
        description='Draw the views and regions of a pretraining config, to '
        'check the geometry and the region matching by eye')
    parser.add_argument(
        'config', help='pretraining config (path or mmalfm::DIR/NAME.py) '
        'whose train pipeline holds a MultiViewCrop')
    parser.add_argument('--data-root', default='data/demo/coco')
    parser.add_argument(
        '--ann-file', default='annotations/instances_train2017.json',
        help='COCO json or image list under --data-root; "" scans the '
        'image folder')
    parser.add_argument('--img-prefix', default='train2017/')
    parser.add_argument(
        '--proposals', default=None,
        help='proposal file (mmalfm or SoCo format); without it, selective '
        'search runs on the chosen images when the sampler needs proposals')
    parser.add_argument('--num', type=int, default=8, help='images to draw')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--out', default='work_dirs/browse_views',
        help='the PNGs go to OUT/<config name>/')
    parser.add_argument(
        '--scale', type=int, default=2,
        help='integer nearest-neighbour upscaling of the views')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, `key=value` (e.g. '
        'train_dataloader.dataset.pipeline.1.views.0.size=96)')
    args = parser.parse_args(argv)
    if args.num < 1 or args.scale < 1 or args.seed < 0:
        parser.error('--num and --scale must be >= 1, --seed >= 0')
    return args


def main(argv: Optional[Sequence[str]] = None) -> List[dict]:
    """Run the tool; returns :func:`~mmalfm.visualization.browse_views`'s
    records (one per image)."""
    args = parse_args(argv)
    records = browse_views(
        args.config,
        args.out,
        data_root=args.data_root,
        ann_file=args.ann_file,
        img_prefix=args.img_prefix,
        proposal_file=args.proposals,
        num=args.num,
        seed=args.seed,
        scale=args.scale,
        cfg_options=args.cfg_options)
    for rec in records:
        print(rec['path'])
        for p in rec['pairs']:
            a, b = p['views']
            print(f'  view {a} <-> view {b}: {len(p["matched"])} matched '
                  f'ids {p["matched"]}')
    return records
