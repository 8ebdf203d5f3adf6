# Copyright (c) mmalfm contributors. All rights reserved.
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
from torch import nn

from mmalfm.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class GlooDistributedDataParallel(MMDistributedDataParallel):
    """MMEngine's DDP wrapper for CPU processes (the gloo backend).

    MMEngine reverts SyncBN to BN only for non-distributed runs and always
    passes the local rank as a CUDA ``device_ids`` entry; both break a
    multi-process run on a machine without CUDA. This wrapper reverts every
    SyncBN layer (same parameter and buffer names, per-process statistics)
    with a logged warning and wraps the CPU module with ``device_ids=None``.
    ``tools/train.py`` selects it automatically when CUDA is unavailable.

    Args:
        module (nn.Module): The model to wrap (on CPU).
        **kwargs: Passed to :class:`MMDistributedDataParallel`; any
            ``device_ids``/``output_device`` is ignored.
    """

    def __init__(self, module: nn.Module, **kwargs) -> None:
        kwargs.pop('device_ids', None)
        kwargs.pop('output_device', None)
        num_sync_bn = sum('SyncBatchNorm' in type(m).__name__
                          for m in module.modules())
        if num_sync_bn:
            print_log(
                f'No CUDA: {num_sync_bn} SyncBN layers fall back to BN '
                '(statistics are per process, not synchronised).',
                logger='current',
                level=30)  # logging.WARNING
            module = revert_sync_batchnorm(module)
        super().__init__(module=module, device_ids=None, **kwargs)
