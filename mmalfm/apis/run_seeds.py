# Copyright (c) mmalfm contributors. All rights reserved.
"""Fine-tune one benchmark config with several seeds; report mean +- std
(the work of ``tools/benchmarks/run_seeds.py``).

Usage::

    python tools/benchmarks/run_seeds.py CONFIG --seeds 0 1 2 \
        [--work-dir DIR] [--gpus N] [--metrics KEY ...] [--summary-only] \
        [-- EXTRA TRAIN ARGS]

    python tools/benchmarks/run_seeds.py \
        configs/benchmarks/mmdetection/voc0712/faster-rcnn_r50-c4-extranorm_syncbn-ms-24k_voc0712.py \
        --seeds 0 1 2 --gpus 8 -- \
        --cfg-options model.init_cfg.checkpoint=work_dirs/exports/r50-c4_mmdet.pth

Each seed trains into ``DIR/seed{S}`` (``DIR`` defaults to
``work_dirs/<config name>_seeds``) with ``tools/train.py`` (``--gpus N``:
``tools/dist_train.sh`` on N processes) and ``--cfg-options
randomness.seed=S``; a seed whose work dir already holds final metrics is
not run again (delete it to re-run; an interrupted one resumes with
``--resume``). The metrics are the last validation entry of each run's
``vis_data/scalars.json`` (all ``prefix/name`` keys holding ``AP``, or
``--metrics``). The table (markdown) and ``DIR/summary.json`` give per-seed
values, mean and the sample standard deviation (ddof 1).
"""
import argparse
import glob
import json
import math
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

from mmalfm.utils.mim import mim_dir

__all__ = [
    'final_metrics', 'summarise', 'format_table', 'train_command',
    'parse_args', 'main'
]

#: The source checkout this package sits in, if it is one.
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def tools_dir() -> str:
    """The folder of ``train.py`` and ``dist_train.sh`` that train each
    seed: the source checkout's ``tools/`` (it holds ``model-index.yml``),
    else the installed package's ``mmalfm/.mim/tools``."""
    if osp.isfile(osp.join(REPO, 'model-index.yml')):
        return osp.join(REPO, 'tools')
    return osp.join(mim_dir(), 'tools')


def final_metrics(work_dir: str,
                  keys: Optional[Sequence[str]] = None) -> Dict[str, float]:
    """The last validation metrics of a training run.

    Args:
        work_dir (str): The run's work dir (``<timestamp>/vis_data/
            scalars.json`` below it; with resumed runs, the newest holding
            metrics wins).
        keys (Sequence[str], optional): Metric names; default: every
            ``prefix/name`` key whose name contains ``AP``.

    Returns:
        dict: ``{key: value}``; empty if the run has not been evaluated.
    """
    files = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    for path in reversed(files):
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        for row in reversed(rows):
            if keys:
                found = {k: row[k] for k in keys if k in row}
            else:
                found = {
                    k: v
                    for k, v in row.items()
                    if '/' in k and 'AP' in k.split('/')[-1]
                    and isinstance(v, (int, float))
                }
            if found:
                return {k: float(v) for k, v in found.items()}
    return {}


def summarise(per_seed: Dict[int, Dict[str, float]]) -> Dict[str, dict]:
    """Mean and sample standard deviation over seeds, per metric.

    Args:
        per_seed (dict): ``{seed: {metric: value}}``.

    Returns:
        dict: ``{metric: {'mean', 'std', 'n', 'values'}}`` (``std`` is
        ``nan`` for a single seed), over the seeds that report the metric.
    """
    metrics: List[str] = []
    for values in per_seed.values():
        metrics += [k for k in values if k not in metrics]
    summary = {}
    for metric in metrics:
        values = [v[metric] for v in per_seed.values() if metric in v]
        n = len(values)
        mean = sum(values) / n
        std = (math.sqrt(sum((x - mean)**2 for x in values) / (n - 1))
               if n > 1 else float('nan'))
        summary[metric] = dict(mean=mean, std=std, n=n, values=values)
    return summary


def format_table(per_seed: Dict[int, Dict[str, float]],
                 summary: Dict[str, dict]) -> str:
    """A markdown table: one row per seed, then mean +- std."""
    metrics = list(summary)
    lines = ['| seed | ' + ' | '.join(metrics) + ' |',
             '|---' * (len(metrics) + 1) + '|']
    for seed, values in per_seed.items():
        cells = [f'{values[m]:.4g}' if m in values else '-' for m in metrics]
        lines.append(f'| {seed} | ' + ' | '.join(cells) + ' |')
    cells = [f'{s["mean"]:.4g} ± {s["std"]:.2g}' for s in summary.values()]
    lines.append('| mean ± std | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def train_command(config: str, work_dir: str, seed: int, gpus: int,
                  extra: List[str], resume: bool) -> List[str]:
    """The command training one seed."""
    if gpus > 1:
        cmd = ['bash', osp.join(tools_dir(), 'dist_train.sh'), config,
               str(gpus)]
    else:
        cmd = [sys.executable, osp.join(tools_dir(), 'train.py'), config]
    cmd += ['--work-dir', work_dir]
    if resume:
        cmd.append('--resume')
    if any(arg.startswith('randomness.seed=') for arg in extra):
        raise ValueError('run_seeds.py sets randomness.seed itself; remove '
                         'it from the extra train arguments.')
    if '--cfg-options' in extra:  # one option list: insert the seed into it
        at = extra.index('--cfg-options')
        extra = (extra[:at + 1] + [f'randomness.seed={seed}'] +
                 extra[at + 1:])
        return cmd + extra
    return cmd + extra + ['--cfg-options', f'randomness.seed={seed}']


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: List[str] = []
    if '--' in argv:
        at = argv.index('--')
        argv, extra = argv[:at], argv[at + 1:]
    parser = argparse.ArgumentParser(
        description='Run a benchmark config with several seeds and report '
        'mean +- std.')
    parser.add_argument('config')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument(
        '--work-dir', help='default: work_dirs/<config name>_seeds')
    parser.add_argument(
        '--gpus', type=int, default=1, help='processes per run (>1: '
        'tools/dist_train.sh)')
    parser.add_argument(
        '--metrics', nargs='+', help='metric keys (default: all */*AP*)')
    parser.add_argument(
        '--summary-only',
        action='store_true',
        help='only collect the metrics of finished runs')
    args = parser.parse_args(argv)
    args.extra = extra
    if args.work_dir is None:
        name = osp.splitext(osp.basename(args.config))[0]
        args.work_dir = osp.join('work_dirs', f'{name}_seeds')
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'{args.config}: no such config')
    per_seed: Dict[int, Dict[str, float]] = {}
    for seed in args.seeds:
        work_dir = osp.join(args.work_dir, f'seed{seed}')
        metrics = final_metrics(work_dir, args.metrics)
        if not metrics and not args.summary_only:
            resume = bool(glob.glob(osp.join(work_dir, '*.pth')))
            cmd = train_command(args.config, work_dir, seed, args.gpus,
                                args.extra, resume)
            print(f'[seed {seed}] ' + ' '.join(cmd), flush=True)
            subprocess.run(cmd, check=True, cwd=os.getcwd())
            metrics = final_metrics(work_dir, args.metrics)
        if not metrics:
            print(f'[seed {seed}] no metrics in {work_dir}', flush=True)
            continue
        per_seed[seed] = metrics
    if not per_seed:
        raise RuntimeError(f'no seed of {args.config} has metrics under '
                           f'{args.work_dir}')
    summary = summarise(per_seed)
    print(format_table(per_seed, summary))
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, 'summary.json'), 'w') as f:
        json.dump(
            dict(config=args.config, seeds=per_seed, summary=summary),
            f,
            indent=1)
    return summary
