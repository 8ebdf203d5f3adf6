# Copyright (c) mmalfm contributors. All rights reserved.
"""``--mode data`` (the train dataloader alone, without and with workers)
and ``--mode selective-search`` (the vectorised selective search against its
pure-Python reference)."""
import argparse
import copy
import glob
import os
import os.path as osp
import tempfile
import time
from typing import Dict, List

import numpy as np
import torch

from .timing import median
from .train_step import endless, load_cfg


def benchmark_data(config: str, args: argparse.Namespace) -> dict:
    """Images/s of the train dataloader alone, without and with workers."""
    from mmengine.runner import Runner
    from mmalfm.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    with tempfile.TemporaryDirectory() as work_dir:
        cfg = load_cfg(config, args, work_dir, args.cfg_options)
        workers = int(cfg.train_dataloader.get('num_workers', 0))
        out = dict(mode='data', config=config,
                   batch=cfg.train_dataloader.batch_size,
                   configured_workers=workers, torch=torch.__version__)
        for key, nw in (('workers0', 0), ('configured', workers)):
            if key == 'configured' and workers == 0:
                out[key] = out['workers0']
                continue
            dl_cfg = copy.deepcopy(cfg.train_dataloader)
            dl_cfg.num_workers = nw
            dl_cfg.persistent_workers = nw > 0 and dl_cfg.get(
                'persistent_workers', False)
            loader = Runner.build_dataloader(dl_cfg, seed=0)
            batches = endless(loader)
            for _ in range(args.warmup):
                next(batches)
            runs = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                for _ in range(args.iters):
                    next(batches)
                runs.append(args.iters * loader.batch_size /
                            (time.perf_counter() - start))
            ips = median(runs)
            out[key] = dict(num_workers=nw, images_per_s=ips,
                            images_per_s_per_worker=ips / max(nw, 1),
                            runs=runs)
            del batches, loader
    return out


def list_images(spec: str) -> List[str]:
    if osp.isdir(spec):
        exts = ('.jpg', '.jpeg', '.png', '.bmp')
        files = [osp.join(root, f) for root, _, names in os.walk(spec)
                 for f in names if f.lower().endswith(exts)]
    else:
        files = glob.glob(spec)
    files = sorted(files)
    if not files:
        raise FileNotFoundError(
            f'--images {spec!r}: no images found; make the demo data with '
            '`python tools/data/make_demo_data.py data/demo` or pass a '
            'folder/glob')
    return files


def benchmark_selective_search(args: argparse.Namespace) -> dict:
    """Images/s (one process = one core) of the vectorised selective
    search and of its pure-Python reference; Felzenszwalb's share."""
    import mmcv
    from mmalfm.datasets.proposals.selective_search import (
        _selective_search_reference, _segment, selective_search)
    files = list_images(args.images)[:args.iters]
    imgs = [mmcv.imread(f, channel_order='rgb') for f in files]
    for img in imgs[:min(args.warmup, len(imgs))]:
        selective_search(img)
    fns = dict(
        fast=selective_search,
        reference=_selective_search_reference,
        felzenszwalb=lambda im: _segment(im, 300, 0.9, 100))
    runs: Dict[str, list] = {k: [] for k in fns}
    same = True
    for _ in range(args.repeat):
        for key, fn in fns.items():
            start = time.perf_counter()
            outs = [fn(img) for img in imgs]
            runs[key].append(len(imgs) / (time.perf_counter() - start))
            if key == 'fast':
                fast_out = outs
            elif key == 'reference':
                same = same and all(
                    np.array_equal(a, b) for a, b in zip(fast_out, outs))
    ips = {k: median(v) for k, v in runs.items()}
    return dict(
        mode='selective-search',
        images=len(imgs),
        image_shapes=[list(i.shape[:2]) for i in imgs],
        fast_images_per_s=ips['fast'],
        reference_images_per_s=ips['reference'],
        speedup=ips['fast'] / ips['reference'],
        felzenszwalb_s_per_image=1 / ips['felzenszwalb'],
        felzenszwalb_frac_of_fast=ips['fast'] / ips['felzenszwalb'],
        # both paths call the same compiled Felzenszwalb: the speed-up of
        # everything else (features, neighbours, grouping)
        speedup_excluding_felzenszwalb=(
            (1 / ips['reference'] - 1 / ips['felzenszwalb']) /
            max(1 / ips['fast'] - 1 / ips['felzenszwalb'], 1e-9)),
        # the best any grouping code could do with this Felzenszwalb
        speedup_ceiling=(1 / ips['reference']) * ips['felzenszwalb'],
        outputs_identical=bool(same),
        runs=runs,
        threads=os.environ.get('OMP_NUM_THREADS'))

