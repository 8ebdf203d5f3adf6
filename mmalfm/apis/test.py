# Copyright (c) mmalfm contributors. All rights reserved.
"""Evaluate a checkpoint (e.g. a fine-tuned detector) with a config's test
loop, OpenMMLab-style.

Examples::

    python tools/test.py \
        configs/benchmarks/mmdetection/demo/faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py \
        work_dirs/demo/det/epoch_12.pth --work-dir work_dirs/demo/det_test
    python tools/test.py CONFIG CKPT --cfg-options test_dataloader.batch_size=4

The metrics are printed and written to ``WORK_DIR/<timestamp>/<timestamp>
.json``; with ``--out FILE`` also to a JSON file of their own. A config in
MMDetection's scope (``default_scope = 'mmdet'``) needs nothing more: its
registries import MMDetection's modules, and ``custom_imports`` ours.
"""
import argparse
import json
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmalfm.utils import (adapt_config_to_cpu, check_config,
                          explain_registry_error, init_cpu_distributed,
                          register_all_modules)

from .train import merge_run_args


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the dir to save logs and metrics')
    parser.add_argument('--out', help='also write the metrics to this JSON')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, `key=value`')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(
            f'{args.checkpoint}: no such checkpoint (train one with '
            f'`python tools/train.py {args.config} --work-dir WORK_DIR`).')
    cfg = merge_run_args(Config.fromfile(args.config), args)
    # Testing loads the checkpoint; the pretrained init is a training matter.
    cfg.load_from = args.checkpoint
    cfg.resume = False

    distributed = args.launcher != 'none'
    if adapt_config_to_cpu(cfg, distributed) and args.launcher == 'pytorch':
        init_cpu_distributed()
    register_all_modules(init_default_scope=False)
    # every keyword before the model and the data are built
    check_config(cfg, args.config, cli_keys=args.cfg_options or ())
    try:
        runner = Runner.from_cfg(cfg)
        metrics = runner.test()
    except KeyError as err:
        explained = explain_registry_error(err, args.config)
        if explained is None:
            raise
        raise explained from err
    metrics = {k: float(v) for k, v in (metrics or {}).items()
               if isinstance(v, (int, float))}
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(metrics, f, indent=1)
    return metrics

