# Copyright (c) mmalfm contributors. All rights reserved.
"""Load an mmalfm export (``tools/model_converters/export_to_mmdet.py``) into
a whole MMDetection detector, loudly.

MMEngine's ``Pretrained`` initialiser loads a file non-strictly and only logs
what did not match; a detector-level ``init_cfg`` of any *other* type runs
before the children's own ``init_weights`` (``BaseModule.init_weights`` gives
``Pretrained`` alone the last word), so the children would overwrite it.
:class:`PretrainedExport` therefore

* fails on a missing file with the command that writes it,
* initialises the children first (as ``BaseModule.init_weights`` would) and
  marks them initialised, so the loaded tensors are final,
* refuses an export whose keys the detector lacks or whose shapes differ, or
  that misses any backbone key (the silent transfer failure users report),
* logs what it loaded per part and what keeps its configured initialisation.
"""
import logging
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit, update_init_info
from mmengine.model.wrappers.utils import is_model_wrapper
from mmengine.runner.checkpoint import _load_checkpoint, load_state_dict

from mmalfm.registry import WEIGHT_INITIALIZERS
from mmalfm.structures.transfer import training_only_groups

__all__ = ['EXPORT_TOOL', 'ExportMismatchError', 'PretrainedExport']

#: The tool that writes the files this initialiser loads.
EXPORT_TOOL = 'tools/model_converters/export_to_mmdet.py'

#: Parts reported separately, longest prefix first.
_PARTS = ('roi_head.shared_head.', 'roi_head.bbox_head.',
          'roi_head.mask_head.', 'backbone.', 'neck.', 'rpn_head.',
          'roi_head.')


class ExportMismatchError(KeyError):
    """An export's keys or shapes do not fit the detector."""

    def __str__(self) -> str:  # KeyError would repr() the message.
        return str(self.args[0])


def _part(key: str) -> str:
    """The reported part of a state-dict key (``'backbone'``, ...)."""
    for prefix in _PARTS:
        if key.startswith(prefix):
            return prefix[:-1]
    return key.split('.', 1)[0]


def _count_by_part(keys: List[str]) -> Dict[str, int]:
    counts: Dict[str, int] = OrderedDict()
    for key in keys:
        counts[_part(key)] = counts.get(_part(key), 0) + 1
    return counts


def _init_children(module: nn.Module) -> None:
    """Run the children's ``init_weights`` now, as
    ``BaseModule.init_weights`` would after this initialiser, and mark them
    initialised so that it does not run them again."""
    for child in module.children():
        if is_model_wrapper(child) and not hasattr(child, 'init_weights'):
            child = child.module
        if hasattr(child, 'init_weights') and not getattr(
                child, 'is_init', False):
            child.init_weights()
            child.is_init = True


@WEIGHT_INITIALIZERS.register_module(name='PretrainedExport')
class PretrainedExport(PretrainedInit):
    """Initialise a detector from an mmalfm export.

    Use it as the *detector-level* ``init_cfg`` (and the last entry if it is a
    list); the export holds whole-detector keys (``backbone.*`` and, by
    export profile, ``neck.*``, ``roi_head.bbox_head.shared_convs/
    shared_fcs.*``, ``roi_head.shared_head.layer4.*`` for C4 detectors)::

        model = dict(init_cfg=dict(type='mmalfm.PretrainedExport',
                                   checkpoint='work_dirs/x/soco_mmdet.pth'))

    Everything the export does not hold keeps the initialisation its module
    configures (RPN, classifiers, mask head, fresh norms).

    Args:
        checkpoint (str): The export, a local path or any URL scheme MMEngine
            loads (``{'state_dict': ..., 'meta': ...}`` or a bare state dict).
        map_location (str): Passed to the loader. Defaults to ``'cpu'``.
        strict (bool): Raise if an exported tensor does not fit the detector
            (unknown key or other shape) or if a backbone key is missing.
            With ``False`` these are warnings. Defaults to True.
    """

    def __init__(self,
                 checkpoint: str,
                 map_location: str = 'cpu',
                 strict: bool = True) -> None:
        super().__init__(checkpoint, prefix=None, map_location=map_location)
        self.strict = strict

    def __call__(self, module: nn.Module) -> None:
        self._check_exists()
        _init_children(module)
        state_dict = self._read()
        model_state = module.state_dict()
        loaded, problems, fresh = self._match(model_state, state_dict)
        if problems:
            message = (f'The export {self.checkpoint} does not fit '
                       f'{module.__class__.__name__}:\n  ' +
                       '\n  '.join(problems) +
                       f'\nRe-export for this detector ({EXPORT_TOOL} ... '
                       '--check CONFIG lists what it expects) or set '
                       'model.init_cfg.strict=False to load what fits.')
            if self.strict:
                raise ExportMismatchError(message)
            print_log(message, logger='current', level=logging.WARNING)
        load_state_dict(
            module,
            OrderedDict((k, state_dict[k]) for k in loaded),
            strict=False,
            logger='current')
        parts = ', '.join(f'{part} {n}'
                          for part, n in _count_by_part(loaded).items())
        kept = ', '.join(f'{part} {n}'
                         for part, n in _count_by_part(fresh).items())
        print_log(
            f'PretrainedExport: loaded {len(loaded)} tensors from '
            f'{self.checkpoint} ({parts}); kept their configured init: '
            f'{kept or "none"}.',
            logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _check_exists(self) -> None:
        path = self.checkpoint
        if '://' in path or osp.isfile(osp.expanduser(path)):
            return
        raise FileNotFoundError(
            f'Pretrained export not found: {path} (model.init_cfg.checkpoint)'
            '. Write it from a pretraining checkpoint with\n'
            f'    python {EXPORT_TOOL} PRETRAIN_CKPT {path} [--with-neck] '
            '[--with-head] [--c4] --check CONFIG\n'
            'or set the path with --cfg-options model.init_cfg.checkpoint='
            'EXPORT, or train from random init with --cfg-options '
            'model.init_cfg=None (docs/user_guides/benchmarks_detection.md).')

    def _read(self) -> Dict[str, torch.Tensor]:
        checkpoint = _load_checkpoint(
            self.checkpoint, map_location=self.map_location, logger='current')
        if not isinstance(checkpoint, dict):
            raise TypeError(f'{self.checkpoint}: expected a dict, got '
                            f'{type(checkpoint).__name__}.')
        state_dict = checkpoint.get('state_dict', checkpoint)
        meta = checkpoint.get('meta') if 'state_dict' in checkpoint else None
        if isinstance(meta, dict):
            brief = {
                k: v
                for k, v in meta.items()
                if isinstance(v, (str, int, float)) and len(str(v)) < 200
            }
            print_log(f'PretrainedExport: {self.checkpoint} meta {brief}',
                      logger='current')
        return {
            (k[len('module.'):] if k.startswith('module.') else k): v
            for k, v in state_dict.items() if isinstance(v, torch.Tensor)
        }

    def _match(self, model_state: Dict[str, torch.Tensor],
               state_dict: Dict[str, torch.Tensor]
               ) -> Tuple[List[str], List[str], List[str]]:
        """Split the export into loadable keys and problems.

        Returns:
            tuple: ``(loaded, problems, fresh)``: export keys that load,
            human-readable problems, and model keys left to their init.
        """
        loaded, problems = [], []
        unknown = [k for k in state_dict if k not in model_state]
        for key, value in state_dict.items():
            if key not in model_state:
                continue
            if value.shape != model_state[key].shape:
                problems.append(f'{key}: export {tuple(value.shape)} vs '
                                f'detector {tuple(model_state[key].shape)}')
            else:
                loaded.append(key)
        if unknown:
            problems.append(f'{len(unknown)} exported keys the detector '
                            f'lacks, e.g. {unknown[:5]}')
            training_only = training_only_groups()
            if any(k.split('.', 1)[0] in training_only for k in unknown):
                problems.append('this looks like a pretraining checkpoint '
                                '(target network / projector keys), not an '
                                f'export: run {EXPORT_TOOL} on it')
        if not loaded:
            problems.append('no exported key matches the detector (is it an '
                            f'export written by {EXPORT_TOOL}?)')
        fresh = [
            k for k in model_state if k not in state_dict
            and not k.endswith('num_batches_tracked')
        ]
        missing_backbone = [k for k in fresh if k.startswith('backbone.')]
        if missing_backbone:
            problems.append(f'{len(missing_backbone)} backbone keys missing '
                            f'from the export, e.g. {missing_backbone[:5]}')
        return loaded, problems, fresh
