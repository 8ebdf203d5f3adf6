# Copyright (c) mmalfm contributors. All rights reserved.
"""``--cfg-options`` of the demo's runs: another data root, the tiny
variant, the fine-tuning schedule, detector proposals."""
import math
import os.path as osp
from typing import List, Sequence, Tuple

from .options import (CONFIG_DATA_ROOT, DEFAULT_DATA, DETECTOR_PROPOSALS,
                      REPO, TINY_SCALE, DemoOptions, needs_proposals)
from .paths import subset_path


def load_config(path: str):
    """The config at ``path`` (relative to the checkout)."""
    from mmengine.config import Config
    return Config.fromfile(osp.join(REPO, path))


def rebase_options(cfg, old: str, new: str) -> List[str]:
    """``--cfg-options`` moving every string starting with ``old`` (the
    configs' data root) under ``new``.

    Args:
        cfg (Config | dict): A loaded config.
        old (str): E.g. ``'data/demo/coco/'``.
        new (str): Replacement prefix.

    Returns:
        list[str]: ``'key.path=value'`` entries (list items by index).
    """
    options = []

    def walk(node, key):
        if isinstance(node, str):
            if node.startswith(old):
                options.append(f'{key}={new + node[len(old):]}')
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(v, f'{key}.{k}' if key else str(k))
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(v, f'{key}.{i}')

    walk(cfg._cfg_dict.to_dict() if hasattr(cfg, '_cfg_dict') else cfg, '')
    return options


def _load_config(path: str):
    from mmengine.config import Config
    return Config.fromfile(osp.join(REPO, path))


def data_options(opts: DemoOptions, cfg) -> List[str]:
    """Rebase the config's demo data root onto ``opts.data``."""
    if osp.abspath(osp.join(REPO, DEFAULT_DATA)) == opts.data:
        return []
    return rebase_options(cfg, CONFIG_DATA_ROOT, opts.coco + '/')


def loader_options(cfg, loaders: Sequence[str]) -> List[str]:
    """No worker processes (tiny runs: start-up dominates)."""
    out = []
    for loader in loaders:
        if cfg.get(loader):
            out += [f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False']
    return out


def pretrain_options(opts: DemoOptions, cfg) -> List[str]:
    options = data_options(opts, cfg)
    if opts.tiny:
        options += loader_options(cfg, ['train_dataloader'])
        # one epoch; an iteration-based config keeps its (own) length
        if 'max_epochs' in (cfg.get('train_cfg') or {}):
            options.append('train_cfg.max_epochs=1')
        options += [
            'default_hooks.logger.interval=1',
            'default_hooks.checkpoint.interval=1'
        ]
    return options


def finetune_epochs(opts: DemoOptions, num_images: int,
                    batch_size: int) -> int:
    """Whole epochs over the subset closest to ``opts.finetune_iters``."""
    per_epoch = math.ceil(num_images / batch_size)
    return max(1, round(opts.finetune_iters / per_epoch))


def finetune_options(opts: DemoOptions, cfg, num_images: int) -> List[str]:
    """The labelled subset, the schedule scaled to ``epochs`` (the config's
    12-epoch step schedule: steps at 8/12 and 11/12) and tiny settings."""
    batch_size = cfg.train_dataloader.batch_size
    if opts.tiny:
        batch_size = 4
    epochs = finetune_epochs(opts, num_images, batch_size)
    iters = epochs * math.ceil(num_images / batch_size)
    warmup = cfg.param_scheduler[0]
    milestones = sorted({max(1, round(epochs * 8 / 12)),
                         max(1, round(epochs * 11 / 12))})
    options = data_options(opts, cfg) + [
        f'train_dataloader.dataset.ann_file={subset_path(opts)}',
        f'train_cfg.max_epochs={epochs}',
        f'train_cfg.val_interval={epochs}',
        f'param_scheduler.1.end={epochs}',
        f'param_scheduler.1.milestones=[{",".join(map(str, milestones))}]',
        # a checkpoint every quarter of the run: an interrupted one resumes
        f'default_hooks.checkpoint.interval={max(1, epochs // 4)}',
        'default_hooks.checkpoint.max_keep_ckpts=1',
    ]
    if not warmup.get('by_epoch', True) and warmup['end'] > iters // 3:
        # a short run: warm up over its first third, not all of it
        options.append(f'param_scheduler.0.end={max(1, iters // 3)}')
    if opts.tiny:
        options += loader_options(
            cfg, ['train_dataloader', 'val_dataloader', 'test_dataloader'])
        options += [
            f'train_dataloader.batch_size={batch_size}',
            'default_hooks.logger.interval=1',
        ]
        options += resize_options(cfg, TINY_SCALE)
    return options


def resize_options(cfg, scale: Tuple[int, int]) -> List[str]:
    """Set the ``Resize`` scale of every detection pipeline."""
    options = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        pipeline = cfg[loader]['dataset']['pipeline']
        for i, step in enumerate(pipeline):
            if step['type'].split('.')[-1] == 'Resize':
                options.append(f'{loader}.dataset.pipeline.{i}.scale='
                               f'({scale[0]},{scale[1]})')
    return options


def eval_options(opts: DemoOptions, cfg) -> List[str]:
    options = data_options(opts, cfg)
    if opts.tiny:
        options += loader_options(cfg, ['test_dataloader'])
        options += [o for o in resize_options(cfg, TINY_SCALE)
                    if o.startswith('test_')]
    return options


def proposal_options(opts: DemoOptions, method: str) -> List[str]:
    """``--cfg-options`` pointing SoCo/ALFM at the detector's boxes (what
    their ``*_detector-proposals_demo.py`` configs change)."""
    if opts.proposals != 'detector' or not needs_proposals(opts, method):
        return []
    return [f'train_dataloader.dataset.proposal_file={DETECTOR_PROPOSALS}']
