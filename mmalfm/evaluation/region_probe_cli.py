# Copyright (c) mmalfm contributors. All rights reserved.
"""Region probe: linear / kNN / box-regression probes on the frozen region
features of a pretrained backbone (docs/user_guides/region_probe.md).

Usage::

    python tools/analysis/region_probe.py [CONFIG_OR_CHECKPOINT] \
        [--config DETECTOR_CONFIG] [--data-root DIR] \
        [--features auto|fpn|backbone] [--pool flatten|avg] \
        [--levels assigned|all] [--folds 5] [--max-images N] \
        [--scale LONG SHORT] [--k 20] [--ridge 0.1] [--no-box] \
        [--box-jitters 2] [--seed 0] [--jitter-seed 0] [--threads 1] \
        [--json OUT] [--cfg-options k=v ...]

``CONFIG_OR_CHECKPOINT`` (default ``random``):

* ``random``: the detector's random initialisation (the baseline);
* an export written by ``tools/model_converters/export_to_mmdet.py``, a
  detector checkpoint, or a pretraining checkpoint (exported in memory);
* a detector config (``.py``): probes what its ``model.init_cfg`` loads
  (random init when it is None) with that detector.

``--config`` is the detector whose backbone / FPN / RoI extractor /
preprocessor / test pipeline define the features (default: the demo detector
``configs/benchmarks/mmdetection/demo/faster-rcnn_r18q-fpn-4conv1fc_1xb4-``
``demo.py``). ``--data-root`` is the COCO root or the folder
``tools/data/make_demo_data.py`` wrote (with ``coco/`` in it). Prints a table
and, with ``--json``, writes the results (plus ``detector_config`` and
``timing`` in seconds). Exit status: 0 done; 1 bad input.

All the logic is :class:`mmalfm.evaluation.RegionProbe`.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

from mmengine.config import Config, DictAction

from mmalfm.evaluation.region_probe import (DEMO_DETECTOR, RegionProbe,
                                            RegionProbeError, format_results)
from mmalfm.models.init.pretrained_export import ExportMismatchError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Linear / kNN / box-regression probes on the frozen '
        'region features (GT boxes, RoIAlign) of a pretrained backbone.')
    parser.add_argument(
        'target', nargs='?', default='random',
        help='"random", an export / detector / pretraining checkpoint, or '
        'a detector config (probes its model.init_cfg)')
    parser.add_argument('--config', default=None,
                        help=f'detector config (default: {DEMO_DETECTOR}, '
                        'or TARGET when it is a config)')
    parser.add_argument('--data-root', default=None,
                        help='COCO root, or a folder with coco/ in it '
                        '(make_demo_data.py output); default: the config\'s')
    parser.add_argument('--features', default='auto',
                        choices=['auto', 'fpn', 'backbone'],
                        help='auto: FPN P2-P5 when the checkpoint has neck.* '
                        'keys, else backbone C2-C5')
    parser.add_argument('--pool', default='flatten',
                        choices=['flatten', 'avg'],
                        help='flatten: the 7x7 RoI feature (C*49 values); '
                        'avg: its mean over the bins (C values)')
    parser.add_argument('--levels', default='assigned',
                        choices=['assigned', 'all'],
                        help='assigned: each box at the level the RoI '
                        'extractor assigns; all: at every level, '
                        'concatenated')
    parser.add_argument('--folds', type=int, default=5,
                        help='image-grouped cross-validation folds over '
                        'train + val boxes (0: off)')
    parser.add_argument('--max-images', type=int, default=None,
                        help='images per split (first in annotation order)')
    parser.add_argument('--scale', type=int, nargs=2, default=None,
                        metavar=('LONG', 'SHORT'),
                        help='Resize scale (default: the test pipeline\'s)')
    parser.add_argument('--k', type=int, default=20, help='kNN neighbours')
    parser.add_argument('--ridge', type=float, default=0.1,
                        help='ridge penalty (standardised features)')
    parser.add_argument('--no-box', action='store_true',
                        help='skip the box-regression probe')
    parser.add_argument('--box-jitters', type=int, default=2,
                        help='jittered copies per box for the box probe')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the detector initialisation')
    parser.add_argument('--jitter-seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (results are bit-identical for '
                        'a given count)')
    parser.add_argument('--json', default=None, metavar='OUT',
                        help='write the results as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the detector config')
    return parser.parse_args(argv)


def _target(args):
    """``(detector_config, checkpoint or None)`` from the arguments."""
    target = args.target
    if target.endswith('.py'):
        if not osp.isfile(target):
            raise FileNotFoundError(f'config not found: {target}')
        cfg = Config.fromfile(target)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        init = cfg.model.get('init_cfg')
        checkpoint = None
        if isinstance(init, dict) and init.get('checkpoint'):
            checkpoint = init['checkpoint']
        return args.config or target, checkpoint
    if target.lower() in ('random', 'none'):
        return args.config or DEMO_DETECTOR, None
    if not osp.isfile(target):
        raise FileNotFoundError(
            f'checkpoint not found: {target} (pass "random" for the random '
            'init baseline)')
    return args.config or DEMO_DETECTOR, target


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        config, checkpoint = _target(args)
        probe = RegionProbe(
            detector_config=config,
            data_root=args.data_root,
            features=args.features,
            pool=args.pool,
            levels=args.levels,
            folds=args.folds,
            image_scale=args.scale,
            max_images=args.max_images,
            k=args.k,
            ridge=args.ridge,
            box_regression=not args.no_box,
            box_jitters=args.box_jitters,
            jitter_seed=args.jitter_seed,
            init_seed=args.seed,
            num_threads=args.threads,
            cfg_options=args.cfg_options)
        result = probe(checkpoint)
    except (RegionProbeError, FileNotFoundError, ExportMismatchError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    total = time.perf_counter() - start
    timing = dict(probe.timing, total=total)
    print(format_results(result))
    print('time: ' + ', '.join(f'{k} {v:.2f} s' for k, v in timing.items()))
    if args.json:
        out_dir = osp.dirname(osp.abspath(args.json))
        os.makedirs(out_dir, exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(dict(result, detector_config=config, timing=timing), f,
                      indent=2)
        print(f'wrote {args.json}')
    return 0

