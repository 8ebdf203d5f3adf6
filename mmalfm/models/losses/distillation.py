# Copyright (c) mmalfm contributors. All rights reserved.
r"""CDLP soft-label distillation (ALFM, Fang et al., KBS 2025).

DINO-style self-distillation at the region level: the EMA teacher's logits
over ``K`` prototypes, centred and sharpened, are the soft labels the
student's logits must predict (cross-entropy). MMPretrain 1.2.0 has no
DINO loss with a centre and a temperature warm-up usable on region logits
(its ``DINOHead`` is tied to multi-crop image views), hence this module.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.dist import all_reduce
from mmengine.logging import MessageHub
from torch import Tensor, nn

from mmalfm.registry import MODELS

__all__ = ['SoftLabelDistillationLoss']


@MODELS.register_module()
class SoftLabelDistillationLoss(nn.Module):
    r"""Cross-entropy of student predictions to centred, sharpened teacher
    soft labels, with an EMA centre and a teacher temperature warm-up.

    For ``R`` rows (regions) with student logits ``s`` and teacher logits
    ``t`` over ``K`` prototypes::

        p_t = softmax((t - c) / tau_t)          (no gradient; teacher_probs)
        H   = -sum_k p_t[k] * log_softmax(s / tau_s)[k]
        L   = loss_weight * mean_{r valid} H_r

    A call without any valid row returns ``0`` that is still part of the
    autograd graph (zero gradients, no NaN).

    **Centre.** ``c`` (buffer ``center``, ``[1, K]``, zeros at start; part of
    ``state_dict``, so a resumed run continues with it) is updated by
    :meth:`update_center` -- to be called once per step after the losses --
    as ``c <- m c + (1 - m) mean_r t_r``, the mean over the rows of *all*
    ranks (all-reduce of the sum and the count).

    **Teacher temperature.** :attr:`teacher_temp` rises linearly from
    ``warmup_teacher_temp`` at epoch 0 to ``teacher_temp`` at epoch
    ``warmup_teacher_temp_epochs`` and stays there (DINO's recipe, but
    continuous in the fractional epoch instead of per-epoch steps). The
    epoch is, in this order:

    1. :attr:`epoch`, if set to a number (tests, custom loops);
    2. ``iter * max_epochs / max_iters`` from the infos the runner's
       ``RuntimeInfoHook`` writes to the current
       :class:`~mmengine.logging.MessageHub` (``iter`` = iterations done, a
       fractional epoch under ``EpochBasedTrainLoop``; resumed runs restore
       ``iter``). Under ``IterBasedTrainLoop`` MMEngine reports
       ``max_epochs = 1``: the "epoch" is then the fraction of training, so
       give ``warmup_teacher_temp_epochs`` as that fraction (e.g.
       ``30 / 800``);
    3. 0 (no runner).

    Everything is computed in fp32 (fp64 stays fp64) with autocast disabled.

    Args:
        out_dim (int): Number of prototypes ``K``.
        student_temp (float): ``tau_s``. Defaults to 0.1.
        teacher_temp (float): ``tau_t`` after the warm-up. Defaults to 0.07.
        warmup_teacher_temp (float): ``tau_t`` at epoch 0. Defaults to 0.04.
        warmup_teacher_temp_epochs (float): Length of the warm-up in epochs;
            0 disables it. Defaults to 30.
        center_momentum (float): ``m`` of the centre EMA. Defaults to 0.9.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 out_dim: int,
                 student_temp: float = 0.1,
                 teacher_temp: float = 0.07,
                 warmup_teacher_temp: float = 0.04,
                 warmup_teacher_temp_epochs: float = 30,
                 center_momentum: float = 0.9,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if not isinstance(out_dim, int) or out_dim < 1:
            raise ValueError(f'out_dim must be a positive int, got '
                             f'{out_dim!r}')
        for name, value in (('student_temp', student_temp),
                            ('teacher_temp', teacher_temp),
                            ('warmup_teacher_temp', warmup_teacher_temp)):
            if not value > 0:
                raise ValueError(f'{name} must be > 0, got {value}')
        if warmup_teacher_temp_epochs < 0:
            raise ValueError('warmup_teacher_temp_epochs must be >= 0, got '
                             f'{warmup_teacher_temp_epochs}')
        if not 0 <= center_momentum <= 1:
            raise ValueError(f'center_momentum must be in [0, 1], got '
                             f'{center_momentum}')
        self.out_dim = out_dim
        self.student_temp = student_temp
        self.final_teacher_temp = teacher_temp
        self.warmup_teacher_temp = warmup_teacher_temp
        self.warmup_teacher_temp_epochs = warmup_teacher_temp_epochs
        self.center_momentum = center_momentum
        self.loss_weight = loss_weight
        #: Fractional epoch overriding the runner's progress (None: read it).
        self.epoch: Optional[float] = None
        self.register_buffer('center', torch.zeros(1, out_dim))

    # ------------------------------------------------------------------
    # Temperature schedule
    # ------------------------------------------------------------------
    def current_epoch(self) -> float:
        """The fractional training epoch (see the class documentation)."""
        if self.epoch is not None:
            return float(self.epoch)
        hub = MessageHub.get_current_instance()
        cur_iter = hub.get_info('iter')
        max_iters = hub.get_info('max_iters')
        max_epochs = hub.get_info('max_epochs')
        if cur_iter is None or not max_iters or not max_epochs:
            return 0.0
        return cur_iter * max_epochs / max_iters

    @property
    def teacher_temp(self) -> float:
        """``tau_t`` at the current epoch (linear warm-up, then constant)."""
        warmup = self.warmup_teacher_temp_epochs
        epoch = self.current_epoch()
        if warmup <= 0 or epoch >= warmup:
            return self.final_teacher_temp
        frac = max(epoch, 0.0) / warmup
        return self.warmup_teacher_temp + frac * (self.final_teacher_temp -
                                                  self.warmup_teacher_temp)

    # ------------------------------------------------------------------
    # Loss
    # ------------------------------------------------------------------
    def _check(self, name: str, logits: Tensor) -> None:
        if logits.dim() != 2 or logits.shape[1] != self.out_dim:
            raise ValueError(f'{type(self).__name__}: {name} must be [R, K] '
                             f'with K = out_dim = {self.out_dim}, got '
                             f'{tuple(logits.shape)}; set out_dim to the '
                             f'number of prototypes of the head.')

    @staticmethod
    def _dtype(x: Tensor) -> torch.dtype:
        return torch.promote_types(x.dtype, torch.float32)

    @torch.no_grad()
    def teacher_probs(self, teacher_logits: Tensor) -> Tensor:
        """Soft labels ``softmax((t - center) / teacher_temp)``, no grad.

        Args:
            teacher_logits (Tensor): ``[R, K]``.

        Returns:
            Tensor: ``[R, K]`` fp32 probabilities (rows sum to 1).
        """
        self._check('teacher_logits', teacher_logits)
        with torch.autocast(device_type=teacher_logits.device.type,
                            enabled=False):
            t = teacher_logits.detach().to(self._dtype(teacher_logits))
            return F.softmax((t - self.center.to(t.dtype)) / self.teacher_temp,
                             dim=-1)

    def forward(self,
                student_logits: Tensor,
                teacher_logits: Tensor,
                valid: Optional[Tensor] = None) -> Tensor:
        """Mean cross-entropy over the valid rows.

        Args:
            student_logits (Tensor): ``[R, K]`` student logits (gradient).
            teacher_logits (Tensor): ``[R, K]`` teacher logits of the same
                rows (detached here: the teacher gets no gradient).
            valid (Tensor, optional): ``[R]`` bool mask of the rows that
                count. Defaults to all rows.

        Returns:
            Tensor: 0-d fp32 loss.
        """
        self._check('student_logits', student_logits)
        if teacher_logits.shape != student_logits.shape:
            raise ValueError(f'{type(self).__name__}: teacher_logits '
                             f'{tuple(teacher_logits.shape)} and '
                             f'student_logits {tuple(student_logits.shape)} '
                             f'must have the same shape')
        if valid is not None and (valid.dtype != torch.bool
                                  or valid.shape != student_logits.shape[:1]):
            raise ValueError(f'{type(self).__name__}: valid must be a bool '
                             f'[R] mask with R = {student_logits.shape[0]}, '
                             f'got {valid.dtype} {tuple(valid.shape)}')
        targets = self.teacher_probs(teacher_logits)
        with torch.autocast(device_type=student_logits.device.type,
                            enabled=False):
            s = student_logits.to(self._dtype(student_logits))
            log_p = F.log_softmax(s / self.student_temp, dim=-1)
            per_row = -(targets.to(s.dtype) * log_p).sum(dim=-1)  # [R]
            if valid is None:
                num = per_row.new_tensor(float(per_row.shape[0]))
                total = per_row.sum()
            else:
                mask = valid.to(device=s.device, dtype=s.dtype)
                num = mask.sum()
                total = (per_row * mask).sum()
            # 0 in the graph (zero gradient) when no row is valid.
            return self.loss_weight * total / num.clamp(min=1)

    @torch.no_grad()
    def update_center(self, teacher_logits: Tensor) -> None:
        """EMA of the centre with the mean teacher logits over all ranks.

        ``c <- m c + (1 - m) sum_r t_r / R`` with the sum and the row count
        all-reduced over ranks (a rank may contribute no row; nothing changes
        if no rank has one). Every rank must call it (collective).

        Args:
            teacher_logits (Tensor): ``[R, K]`` teacher logits of this step.
        """
        self._check('teacher_logits', teacher_logits)
        t = teacher_logits.detach().float()
        stats = torch.cat([t.sum(dim=0), t.new_tensor([t.shape[0]])])
        all_reduce(stats, op='sum')
        count = stats[-1]
        mean = (stats[:-1] / count.clamp(min=1)).view(1, -1)
        m = self.center_momentum
        new = m * self.center + (1 - m) * mean.to(self.center.dtype)
        # No host sync: keep the centre where no rank had a row.
        self.center.copy_(torch.where(count > 0, new, self.center))

    def extra_repr(self) -> str:
        return (f'out_dim={self.out_dim}, student_temp={self.student_temp}, '
                f'teacher_temp={self.final_teacher_temp}, '
                f'warmup_teacher_temp={self.warmup_teacher_temp}, '
                f'warmup_teacher_temp_epochs='
                f'{self.warmup_teacher_temp_epochs}, '
                f'center_momentum={self.center_momentum}')
