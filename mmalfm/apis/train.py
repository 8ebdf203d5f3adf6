# Copyright (c) mmalfm contributors. All rights reserved.
"""Train (pretrain) a model from a config, OpenMMLab-style.

Examples::

    python tools/train.py configs/byol/byol_resnet18_1xb16-10e_demo.py
    python tools/train.py CONFIG --work-dir work_dirs/x --resume       # auto
    python tools/train.py CONFIG --resume work_dirs/x/iter_400.pth
    bash tools/dist_train.sh CONFIG 8 --amp --auto-scale-lr
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmalfm.utils import (adapt_config_to_cpu, check_config,
                          explain_registry_error, init_cpu_distributed,
                          register_all_modules, resolve_runner_resume)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint; without a value, from the '
        'latest checkpoint in the work dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by the actual batch size over '
        '`auto_scale_lr.base_batch_size`')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, `key=value` (lists as `key="[a,b]"` '
        'or `key=a,b`; nested keys with dots)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--no-config-check',
        action='store_true',
        help='skip the check of every config keyword before training (for '
        'a component whose keywords the check cannot see)')
    # torch.distributed.launch (not torchrun) passes --local-rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_run_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Fold the options :mod:`mmalfm.apis.train` and :mod:`mmalfm.apis.test`
    share into the config: ``--cfg-options``, ``--launcher`` and
    ``--work-dir`` (CLI > config > ``./work_dirs/<config name>``)."""
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Fold the command-line options into the config."""
    cfg = merge_run_args(cfg, args)

    if args.amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        assert optim_wrapper in ('OptimWrapper', 'AmpOptimWrapper'), \
            '`--amp` is only supported with OptimWrapper/AmpOptimWrapper, ' \
            f'got {optim_wrapper}'
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or \
                'base_batch_size' not in cfg.auto_scale_lr:
            raise KeyError(
                f'{args.config}: `--auto-scale-lr` needs '
                '`auto_scale_lr = dict(base_batch_size=...)` in the config.')
        cfg.auto_scale_lr.enable = True

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg = merge_args(cfg, args)

    distributed = args.launcher != 'none'
    if adapt_config_to_cpu(cfg, distributed) and args.launcher == 'pytorch':
        init_cpu_distributed()

    # Our scope by default; a config may set another `default_scope`.
    register_all_modules(init_default_scope=False)
    if not args.no_config_check:
        # every keyword of every component, before anything is built or run
        check_config(cfg, args.config, cli_keys=args.cfg_options or ())
    try:
        runner = Runner.from_cfg(cfg)
        # --resume: skip unreadable/unsafe checkpoints, or start from scratch
        # (after from_cfg: the warnings then reach the run's log file).
        resolve_runner_resume(runner)
        runner.train()
    except KeyError as err:
        explained = explain_registry_error(err, args.config)
        if explained is None:
            raise
        raise explained from err

