# Copyright (c) mmalfm contributors. All rights reserved.
"""Run GPU-minded configs on machines without CUDA.

Released configs use SyncBN and NCCL; on a CPU-only machine (a laptop, CI)
we keep them as they are and adapt at launch time, loudly:

* SyncBN layers become BN (same parameter and buffer names, so checkpoints
  are interchangeable; statistics are per process instead of global);
* distributed runs use the gloo backend and wrap the model with
  ``device_ids=None`` (MMEngine would pass the local rank as a CUDA device).
"""
import os
from typing import Any, List

import torch
import torch.distributed as torch_dist
from mmengine.config import Config

__all__ = ['sync_bn_to_bn', 'adapt_config_to_cpu', 'init_cpu_distributed']

_SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'TorchSyncBN')


def sync_bn_to_bn(node: Any, path: str = 'model') -> List[str]:
    """Replace every ``norm_cfg``-like ``dict(type='SyncBN')`` in a config
    subtree by ``type='BN'`` (in place).

    Args:
        node: A config (sub)tree: dicts, lists and tuples.
        path (str): Dotted path of ``node`` for the report.

    Returns:
        list[str]: The dotted paths that were changed.
    """
    changed = []
    if isinstance(node, dict):
        if node.get('type') in _SYNC_BN_TYPES:
            node['type'] = 'BN'
            changed.append(path)
        for key, value in node.items():
            changed += sync_bn_to_bn(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            changed += sync_bn_to_bn(value, f'{path}[{i}]')
    return changed


def adapt_config_to_cpu(cfg: Config, distributed: bool) -> List[str]:
    """Adapt a config in place when CUDA is unavailable (see module doc).

    Args:
        cfg (Config): The full config.
        distributed (bool): Whether the run is launched with several
            processes.

    Returns:
        list[str]: One warning per change made, for the run's log (the
        logger does not exist yet when the config is adapted).
    """
    if torch.cuda.is_available():
        return []
    warnings = []
    changed = sync_bn_to_bn(cfg.model)
    if changed:
        warnings.append(
            f'CUDA is not available: {len(changed)} SyncBN layer config(s) '
            'fall back to BN (per-process statistics), e.g. '
            f'{", ".join(changed[:3])}.')
    if distributed:
        env_cfg = cfg.setdefault('env_cfg', {})
        env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
        wrapper = cfg.get('model_wrapper_cfg') or dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
        wrapper['device_ids'] = None
        cfg.model_wrapper_cfg = wrapper
        warnings.append('CUDA is not available: distributed training uses '
                        'the gloo backend on CPU.')
    return warnings


def init_cpu_distributed() -> None:
    """Initialise a gloo process group from torchrun's environment.

    MMEngine's own initialisation calls ``torch.cuda.set_device``, which fails
    without CUDA; the Runner skips it when a group already exists.
    """
    if torch_dist.is_available() and not torch_dist.is_initialized():
        torch_dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
