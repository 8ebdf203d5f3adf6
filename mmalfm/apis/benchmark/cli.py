# Copyright (c) mmalfm contributors. All rights reserved.
"""Benchmark the real training step of a config.

Usage::

    python tools/analysis/benchmark.py CONFIG [--mode train|data|selective-search]
        [--iters N] [--warmup W] [--batch B] [--amp] [--repeat R]
        [--compare-byol BYOL_CONFIG [--byol-cfg-options k=v ...]]
        [--json OUT] [--cfg-options k=v ...]

``--mode train`` (default) builds the runner pieces exactly as
``tools/train.py`` does (``Runner.from_cfg`` in a temporary work dir, then
the train dataloader, the model and the optim wrapper) and runs the real
step: ``data_preprocessor`` -> ``model(mode='loss')`` -> ``parse_losses``
-> ``optim_wrapper.backward`` -> ``optim_wrapper.step``. The time is split
by wrapping methods of the built model (nothing in the algorithms is
edited); the sections are *exclusive* (a nested section's time is counted
in the nested one only):

* ``data``: waiting for the next batch (configured workers);
* ``preprocess``: the data preprocessor (normalisation, device copy);
* ``geometry``: ``collate_regions``, ``ViewGeometry.collate`` and the
  correspondence helpers the algorithm module imports (``id_correspondence``,
  ``scale_aware_slot_ids``, ``assign_soco_levels``, ...);
* ``online_forward`` / ``target_forward``: ``encode_views`` (by its
  ``target`` argument); for models without ``encode_views`` (MMPretrain's
  BYOL) ``target_forward`` is ``target_net`` and the rest of the forward is
  ``model_unsplit``;
* ``region_head``: the heads' ``RoIEmbedding`` (``pool`` and forward: RoI
  pooling, RoI head, projector, predictor, online and target);
* ``loss``: the rest of ``region_losses`` (the heads' ``loss``);
* ``backward``; ``optimizer``: ``step`` + ``zero_grad``; ``ema``: the target
  update (``update_target`` / ``target_net.update_parameters``).

The sampler's time is measured in-process on the same dataset
(``sampling`` per image: ``MultiViewCrop._sample`` = crop draws + region
sampler), as the workers' clocks are not visible to the main process.

The **floor** is the same backbone (a copy) doing a bare forward+backward on
the online views and a no-grad forward on the target views of a real batch
(same batch, same resolution; same-size views batched like
``batch_views``).

``--mode data`` iterates the train dataloader with ``num_workers=0`` and
with the configured workers (images/s and images/s per worker);
``--mode selective-search`` times
:func:`mmalfm.datasets.proposals.selective_search` against its pure-Python
reference on the images of ``--images`` (one process: per core).

Every mode prints a table and writes ``--json``. With ``--repeat R`` the
timed loop runs ``R`` times and the median is reported (``runs`` keeps all).
See ``docs/benchmarks.md``.
"""
import argparse
import json
import os
import os.path as osp
from typing import List, Optional

from mmengine.config import DictAction

from .data import benchmark_data, benchmark_selective_search
from .timing import SECTIONS
from .train_step import benchmark_train


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The command line (``sys.argv[1:]`` when ``argv`` is None)."""
    parser = argparse.ArgumentParser(
        description='Benchmark a config\'s training step, its data '
        'pipeline, or selective search. See docs/benchmarks.md.')
    parser.add_argument('config', nargs='?',
                        help='config file (not needed for selective-search)')
    parser.add_argument('--mode', choices=('train', 'data',
                                           'selective-search'),
                        default='train')
    parser.add_argument('--iters', type=int, default=20,
                        help='timed iterations (images in selective-search '
                        'mode; default: 20)')
    parser.add_argument('--warmup', type=int, default=3,
                        help='untimed iterations first (default: 3)')
    parser.add_argument('--batch', type=int,
                        help='override train_dataloader.batch_size')
    parser.add_argument('--amp', action='store_true',
                        help='AmpOptimWrapper (as tools/train.py --amp)')
    parser.add_argument('--repeat', type=int, default=1,
                        help='timed loops; the median is reported')
    parser.add_argument('--compare-byol', metavar='BYOL_CONFIG',
                        help='also benchmark this config (same batch, same '
                        'process) and report the ratios to it')
    parser.add_argument('--images', default='data/demo/coco/train2017',
                        help='selective-search mode: image folder or glob')
    parser.add_argument('--json', help='write the results here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of CONFIG (as tools/train.py)')
    parser.add_argument('--byol-cfg-options', nargs='+', action=DictAction,
                        help='override settings of --compare-byol\'s config')
    args = parser.parse_args(argv)
    if args.mode != 'selective-search' and args.config is None:
        parser.error(f'--mode {args.mode} needs a CONFIG')
    if args.iters < 1 or args.warmup < 0 or args.repeat < 1:
        parser.error('--iters and --repeat must be >= 1, --warmup >= 0')
    if args.batch is not None and args.batch < 1:
        parser.error('--batch must be >= 1')
    return args


def print_train(res: dict) -> None:
    """Print a :func:`~.train_step.benchmark_train` result as a table."""
    print(f"{res['model']} ({res['config']}), {res['device']}, batch "
          f"{res['batch']}, views {res['view_shapes']}, "
          f"{res['num_workers']} workers, median of {res['repeat']} x "
          f"{res['iters']} iterations")
    print(f"  step {res['step_s'] * 1e3:.1f} ms  {res['images_per_s']:.1f} "
          f"img/s  floor {res['floor_s'] * 1e3:.1f} ms  step/floor "
          f"{res['ratio_to_floor']:.2f}")
    for k in SECTIONS:
        v = res['sections_s'].get(k, 0.)
        if v:
            print(f"  {k:<15s}{v * 1e3:9.2f} ms  "
                  f"{100 * res['sections_frac'][k]:5.1f} %")
    if res['sampling']:
        s = res['sampling']
        print(f"  sampling (in workers) {s['sampling_s_per_image'] * 1e3:.2f}"
              f" ms/image; pipeline {s['pipeline_s_per_image'] * 1e3:.2f} "
              'ms/image')
    print(f"  geometry+sampling {100 * res['geometry_sampling_frac']:.2f} % "
          'of the step')
    mem = res['peak_memory']
    print(f"  peak memory ({mem['kind']}) {mem['mb']:.0f} MiB")


def main(argv: Optional[List[str]] = None) -> dict:
    """Run the mode ``argv`` asks for, print its table, write ``--json``.

    Returns:
        dict: The results (those written to ``--json``).
    """
    args = parse_args(argv)
    if args.mode == 'selective-search':
        res = benchmark_selective_search(args)
        print(f"selective search, {res['images']} images, one process: "
              f"{res['fast_images_per_s']:.2f} img/s vs reference "
              f"{res['reference_images_per_s']:.2f} img/s = "
              f"{res['speedup']:.2f}x (Felzenszwalb "
              f"{res['felzenszwalb_s_per_image'] * 1e3:.1f} ms/image, "
              f"{100 * res['felzenszwalb_frac_of_fast']:.0f} % of the fast "
              f"path; identical outputs: {res['outputs_identical']}); "
              'without Felzenszwalb '
              f"{res['speedup_excluding_felzenszwalb']:.1f}x, ceiling "
              f"{res['speedup_ceiling']:.2f}x")
    elif args.mode == 'data':
        res = benchmark_data(args.config, args)
        for key in ('workers0', 'configured'):
            r = res[key]
            print(f"data {key}: {r['num_workers']} workers "
                  f"{r['images_per_s']:.1f} img/s "
                  f"({r['images_per_s_per_worker']:.1f} per worker)")
    else:
        res = benchmark_train(args.config, args, args.cfg_options)
        print_train(res)
        if args.compare_byol:
            byol = benchmark_train(args.compare_byol, args,
                                   args.byol_cfg_options)
            print_train(byol)
            res['byol'] = byol
            res['ratio_to_byol'] = res['step_s'] / byol['step_s']
            res['region_overhead_vs_byol'] = res['ratio_to_byol']
            print(f"step / BYOL step: {res['ratio_to_byol']:.2f}")
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=1)
    return res

