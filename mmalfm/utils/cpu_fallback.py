# Copyright (c) mmalfm contributors. All rights reserved.
"""Run GPU-minded configs on machines without CUDA.

Released configs use SyncBN and NCCL; on a CPU-only machine (a laptop, CI)
we keep them as they are and adapt at launch time, loudly. A single process
needs nothing (MMEngine reverts SyncBN to BN itself). Several processes use
the gloo backend and :class:`~mmalfm.models.GlooDistributedDataParallel`,
which reverts SyncBN to BN and wraps the CPU model without ``device_ids``.
"""
import logging
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log

__all__ = ['adapt_config_to_cpu', 'init_cpu_distributed']


def adapt_config_to_cpu(cfg: Config, distributed: bool) -> bool:
    """Adapt a distributed config in place when CUDA is unavailable.

    Args:
        cfg (Config): The full config.
        distributed (bool): Whether the run is launched with several
            processes.

    Returns:
        bool: Whether the config was changed (gloo + CPU DDP wrapper).
    """
    if torch.cuda.is_available() or not distributed:
        return False
    # Assign, not `setdefault`: ConfigDict.setdefault stores a converted copy
    # and returns the original, so an in-place update would be lost.
    env_cfg = dict(cfg.get('env_cfg') or {})
    env_cfg['dist_cfg'] = dict(env_cfg.get('dist_cfg') or {}, backend='gloo')
    cfg.env_cfg = env_cfg
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper_type = wrapper.get('type', 'MMDistributedDataParallel')
    if wrapper_type.split('.')[-1] not in ('MMDistributedDataParallel',
                                           'GlooDistributedDataParallel'):
        raise ValueError(
            f'model_wrapper_cfg.type={wrapper["type"]!r} cannot run without '
            'CUDA; use MMDistributedDataParallel (default) on CPU.')
    wrapper['type'] = 'mmalfm.GlooDistributedDataParallel'
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters',
                       cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper
    print_log('CUDA is not available: distributed training on CPU with the '
              'gloo backend.', logger='current', level=logging.WARNING)
    return True


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
