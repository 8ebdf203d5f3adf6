# Copyright (c) mmalfm contributors. All rights reserved.
"""Stop a run at the first non-finite loss, weight or statistic."""
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop
from torch import Tensor

from mmalfm.registry import HOOKS

__all__ = ['NonFiniteCheckHook']

#: Named tensors listed in the error before "... and N more".
_MAX_NAMED = 5


def _floating(named: Iterator[Tuple[str, Tensor]]) -> List[Tuple[str, Tensor]]:
    """The floating-point tensors of ``named`` (integer counters such as
    ``num_batches_tracked`` cannot be non-finite)."""
    return [(k, v) for k, v in named
            if isinstance(v, Tensor) and v.is_floating_point()]


def non_finite_names(named: Sequence[Tuple[str, Tensor]]) -> List[str]:
    """The names of the tensors holding a NaN or an Inf.

    One reduction per tensor and a single host synchronisation for all.

    Args:
        named (Sequence[tuple[str, Tensor]]): ``(name, tensor)`` pairs of
            floating-point tensors, any shapes, any devices.

    Returns:
        list[str]: The offending names, in the order given.
    """
    if not named:
        return []
    flags = [v.detach().isfinite().all().cpu() for _, v in named]
    ok = torch.stack(flags)
    if bool(ok.all()):
        return []
    return [name for (name, _), good in zip(named, ok.tolist()) if not good]


def _listed(names: List[str]) -> str:
    """``a, b, c`` with at most :data:`_MAX_NAMED` names."""
    more = len(names) - _MAX_NAMED
    text = ', '.join(names[:_MAX_NAMED])
    return text + (f' ... and {more} more' if more > 0 else '')


@HOOKS.register_module()
class NonFiniteCheckHook(Hook):
    """Stop training at the first NaN/Inf, before it reaches a checkpoint.

    Every training path of the project runs it (``default_hooks.non_finite``
    in ``configs/_base_/default_runtime.py``), the MMPretrain algorithms
    (BYOL) included, so the guard lives here and not in each algorithm.
    After every training iteration it checks

    * every loss term and logged value the model returned (``outputs`` of
      ``train_step``), and
    * every ``params_interval`` iterations, every floating-point parameter
      and buffer of the model (weights and BN running statistics: a huge
      learning rate can leave the loss finite while a running variance
      is already ``inf``),

    and raises ``FloatingPointError`` naming the offending terms or
    tensors, the iteration as the log counts it (``Epoch(train) [1][7/10]``
    or ``Iter(train) [7/300]``, 1-based) and the usual fixes. The hook runs
    before ``LoggerHook`` and ``CheckpointHook``, so no checkpoint written
    after the divergence exists; :meth:`before_save_checkpoint` refuses a
    non-finite state dict in any case (also with ``params_interval=0``).

    The step of the failing iteration has already been applied to the
    in-memory weights when the hook sees its loss; the run stops there and
    the last checkpoint on disk is the one to resume from (with a lower
    learning rate).

    Args:
        params_interval (int): Check parameters and buffers every this many
            iterations; 0 checks them only before a checkpoint is saved.
            Defaults to 1 (one reduction per tensor and one host sync per
            iteration: small next to a training step).
        enabled (bool): False turns every check off. MMEngine does not
            accept None for a default hook it does not know, hence this
            switch. Defaults to True.
    """

    priority = 'ABOVE_NORMAL'  # before LoggerHook and CheckpointHook

    def __init__(self, params_interval: int = 1, enabled: bool = True) -> None:
        if not isinstance(params_interval, int) or params_interval < 0:
            raise ValueError('params_interval must be an int >= 0, got '
                             f'{params_interval!r}')
        self.params_interval = params_interval
        self.enabled = enabled

    # ------------------------------------------------------------- checks
    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[Dict] = None) -> None:
        """Check the returned loss terms, then (every ``params_interval``)
        the model's parameters and buffers."""
        if not self.enabled:
            return
        terms = _floating((k, v if isinstance(v, Tensor) else
                           torch.as_tensor(v, dtype=torch.float64))
                          for k, v in (outputs or {}).items()
                          if isinstance(v, (Tensor, float)))
        bad = non_finite_names(terms)
        if bad:
            values = dict(terms)
            raise FloatingPointError(
                f'Non-finite loss at {self._where(runner, batch_idx)}: ' +
                ', '.join(f'{k}={float(values[k].detach().float().sum())}'
                          for k in bad) + '. ' + self._fix(runner))
        if self.params_interval and \
                (runner.iter + 1) % self.params_interval == 0:
            self._check_model(runner, self._where(runner, batch_idx))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Refuse to write a checkpoint whose state dict is not finite."""
        if not self.enabled:
            return
        state = checkpoint.get('state_dict', {})
        bad = non_finite_names(_floating(state.items()))
        if bad:
            # the counters the runner writes into this checkpoint's meta
            meta = checkpoint.get('meta', {})
            raise FloatingPointError(
                'Refusing to save the checkpoint of iteration '
                f"{meta.get('iter', runner.iter)} (epoch "
                f"{meta.get('epoch', runner.epoch)}): non-finite "
                f'{_listed(bad)}. The previous checkpoint is intact. ' +
                self._fix(runner))

    def _check_model(self, runner, where: str) -> None:
        """Raise if a parameter or buffer of the model is non-finite."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        named = _floating(model.named_parameters()) + \
            _floating(model.named_buffers())
        bad = non_finite_names(named)
        if bad:
            raise FloatingPointError(
                f'Non-finite weights or statistics after {where}: '
                f'{_listed(bad)} (the loss was still finite). ' +
                self._fix(runner))

    # ----------------------------------------------------------- messages
    @staticmethod
    def _where(runner, batch_idx: int) -> str:
        """The iteration as ``LoggerHook`` prints it (1-based)."""
        loop = runner.train_loop
        if isinstance(loop, EpochBasedTrainLoop):
            return (f'Epoch(train) [{runner.epoch + 1}][{batch_idx + 1}/'
                    f'{len(loop.dataloader)}] (iteration {runner.iter + 1} '
                    'of the run)')
        return f'Iter(train) [{runner.iter + 1}/{runner.max_iters}]'

    @staticmethod
    def _fix(runner) -> str:
        """The usual remedies, with the current learning rate."""
        try:
            # {'lr': [...]}, or {'<name>.lr': [...]} for several optimizers
            lrs = next(iter(runner.optim_wrapper.get_lr().values()))
            lr = f' (now {lrs[0]:.4g})' if lrs else ''
        except Exception:  # a custom wrapper without get_lr
            lr = ''
        return (f'Lower the learning rate, `optim_wrapper.optimizer.lr`{lr}, '
                'or clip gradients (`optim_wrapper.clip_grad=dict('
                'max_norm=...)`); check the data (empty or degenerate boxes, '
                'unnormalised inputs); under AMP use '
                "`optim_wrapper.dtype='bfloat16'` or keep the loss in fp32. "
                'Resume from the last checkpoint once fixed.')
