# Copyright (c) mmalfm contributors. All rights reserved.
"""Write a labelled-COCO subset (e.g. 10 %, 5 %, 1 %) annotation file.

Usage::

    python tools/data/make_coco_subset.py ANN OUT --percent P [--seed S]

    python tools/data/make_coco_subset.py \
        data/coco/annotations/instances_train2017.json \
        data/coco/annotations/instances_train2017_10pct_seed1.json \
        --percent 10 --seed 1

Sampling is image-level: ``round(N * P / 100)`` images (at least one) are
drawn without replacement from all ``N`` images of ``ANN`` with
``numpy.random.default_rng(seed)``; every annotation of a drawn image is
kept, and nothing else. Images and annotations keep their order in ``ANN``;
``categories`` (all of them, also those the subset happens to lack, so class
indices never shift), ``info`` and ``licenses`` are copied unchanged, and a
top-level ``subset`` entry records the source file name, percentage, seed
and counts. The output depends only on the input and the arguments: the same
seed writes a byte-identical file. Different seeds give the different splits
a multi-seed benchmark averages over.
"""
import argparse
import json
import math
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np

__all__ = ['subset_size', 'make_coco_subset']


def subset_size(num_images: int, percent: float) -> int:
    """Number of images in a ``percent`` subset of ``num_images`` images.

    Args:
        num_images (int): Images in the full set.
        percent (float): In ``(0, 100]``.

    Returns:
        int: ``round(num_images * percent / 100)`` (halves up), at least 1.
    """
    if not 0 < percent <= 100:
        raise ValueError(f'--percent must be in (0, 100], got {percent}')
    return max(1, min(num_images, math.floor(num_images * percent / 100 +
                                             0.5)))


def make_coco_subset(ann_file: str,
                     out_file: str,
                     percent: float,
                     seed: int = 1) -> dict:
    """Write the subset of ``ann_file`` to ``out_file``.

    Args:
        ann_file (str): A COCO-style annotation file (``images``,
            ``annotations``, ``categories``).
        out_file (str): Where to write the subset; must differ from
            ``ann_file``.
        percent (float): Share of the images to keep, in ``(0, 100]``.
        seed (int): Seed of the image draw. Defaults to 1.

    Returns:
        dict: The ``subset`` record written into the file.
    """
    if osp.abspath(ann_file) == osp.abspath(out_file):
        raise ValueError(f'{out_file}: refusing to overwrite the source '
                         'annotation file; choose another OUT.')
    with open(ann_file) as f:
        coco = json.load(f)
    missing = [k for k in ('images', 'annotations', 'categories')
               if k not in coco]
    if missing:
        raise KeyError(f'{ann_file}: not a COCO annotation file (no '
                       f'{", ".join(missing)}).')
    images = coco['images']
    num = subset_size(len(images), percent)
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(len(images), size=num, replace=False))
    keep_images = [images[i] for i in picked]
    keep_ids = {img['id'] for img in keep_images}
    keep_anns = [a for a in coco['annotations'] if a['image_id'] in keep_ids]

    record = dict(
        source=osp.basename(ann_file),
        percent=float(percent),
        seed=seed,
        num_images=len(keep_images),
        num_annotations=len(keep_anns),
        num_source_images=len(images))
    subset = {k: v for k, v in coco.items()
              if k not in ('images', 'annotations')}
    subset['images'] = keep_images
    subset['annotations'] = keep_anns
    subset['subset'] = record
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    tmp = out_file + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(subset, f)
    os.replace(tmp, out_file)
    return record


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write a labelled-COCO subset annotation file '
        '(image-level sampling, deterministic per seed).')
    parser.add_argument('ann', help='source COCO annotation file')
    parser.add_argument('out', help='subset annotation file to write')
    parser.add_argument(
        '--percent',
        type=float,
        required=True,
        help='share of the images to keep, in (0, 100]')
    parser.add_argument(
        '--seed', type=int, default=1, help='seed of the draw (default 1)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    record = make_coco_subset(args.ann, args.out, args.percent, args.seed)
    print(f'Wrote {record["num_images"]} of {record["num_source_images"]} '
          f'images ({args.percent:g} %, seed {args.seed}) with '
          f'{record["num_annotations"]} annotations to {args.out}')

