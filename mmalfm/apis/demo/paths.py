# Copyright (c) mmalfm contributors. All rights reserved.
"""Where the demo's stages write: work dirs, exports, records."""
import os.path as osp

from .options import REPO, DemoOptions


def run_key(init: str, seed: int = 0) -> str:
    """The name of a fine-tuning run: ``init`` for the config's seed (0),
    ``<init>_seed<k>`` for the others (stages, work dirs)."""
    return init if seed == 0 else f'{init}_seed{seed}'


def pretrain_dir(opts: DemoOptions, method: str) -> str:
    return osp.join(opts.work_dir, 'pretrain', method)


def finetune_dir(opts: DemoOptions, init: str, seed: int = 0) -> str:
    return osp.join(opts.work_dir, 'finetune', run_key(init, seed))


def export_path(opts: DemoOptions, method: str) -> str:
    return osp.join(opts.work_dir, 'export', f'{method}_mmdet.pth')


def subset_path(opts: DemoOptions) -> str:
    pct = f'{opts.label_fraction * 100:g}'
    return osp.join(opts.work_dir, 'labels',
                    f'instances_train2017_{pct}pct_seed{opts.seed}.json')


def probe_path(opts: DemoOptions, init: str) -> str:
    return osp.join(opts.work_dir, 'probe', f'{init}.json')


def metrics_path(opts: DemoOptions, init: str, seed: int = 0) -> str:
    return osp.join(finetune_dir(opts, init, seed), 'metrics.json')


def record_path(opts: DemoOptions, stage: str) -> str:
    return osp.join(opts.work_dir, 'stages', f'{stage}.json')


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint named by ``work_dir/last_checkpoint`` ('' if none)."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return ''
    with open(pointer) as f:
        path = f.read().strip()
    if path and not osp.isabs(path):
        # mmengine writes it relative to the cwd of the run (the repo)
        path = osp.join(REPO, path)
    return path
