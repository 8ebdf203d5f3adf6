# Copyright (c) mmalfm contributors. All rights reserved.
"""Cheap, periodic diagnostics of the learned representation.

Self-supervised methods fail silently: a collapsed encoder (every image mapped
to the same vector) still lowers a BYOL loss, and a region method whose
matcher finds no positive pairs trains on nothing. :class:`RepresentationHealthHook`
logs a handful of scalars that make both visible in the text log and in every
visualizer backend (TensorBoard, W&B, ...).

Where the tensors come from
---------------------------
Every step, a region algorithm publishes its health tensors as one
:class:`~mmalfm.models.utils.health.StepHealth` (``embeddings``,
``branches``, per-image ``pos_pairs`` / ``possible_pairs``; the schema is
documented in ``mmalfm/models/utils/health.py``) in the message hub's
runtime info under ``HEALTH_INFO_KEY``. The hook clears that entry before
each logged iteration and reads it after the train step, so it only ever
sees the current step's tensors.

Without it (or when it has neither ``embeddings`` nor ``branches``), the
hook registers a forward hook on ``model.neck`` (``runner.model``,
unwrapped from DDP/FSDP) for the duration of the logged iteration and uses
the output of the neck's *first* call of that iteration (its first element
if it is a tuple/list, as for MMPretrain's necks, flattened to ``[N, d]``).
For MMPretrain's ``BYOL`` that is the online projection of the first view
(the target network holds a deep copy of the neck, which the hook does not
see). The first call only is kept so that the rows are different images,
not two views of the same image.

Logged scalars (``train/<prefix>/<name>``)
------------------------------------------
- ``std``: the mean over dimensions of the per-dimension (unbiased) standard
  deviation of the L2-normalised embeddings: 0 for a collapsed batch,
  ``1/sqrt(d)`` for well spread ones (exactly so for one-hot rows, N = d).
- ``eff_rank``: the effective rank (Roy & Vetterli, 2007; the RankMe of
  Garrido et al., 2023), ``exp(-sum p_k log p_k)`` with
  ``p_k = s_k / sum s`` of the singular values ``s`` of the L2-normalised
  embedding matrix: 1 when collapsed, ``d`` for ``N = d`` orthonormal rows,
  at most ``min(N, d)``. With ``center_rank=True`` the matrix is centred
  first (the rank of the spread around the mean: ``d - 1`` for ``N = d``
  one-hot rows, since centred rows sum to zero; a fully collapsed batch, a
  zero centred matrix, reports 1). Not centring is the default because
  near-collapse (a constant plus small isotropic noise) then reads about 1,
  where the centred matrix would show the full rank of the noise.
- ``mean_cos``: the mean cosine similarity over pairs of different rows
  (off-diagonal of the Gram matrix): 1 when collapsed, about 0 when spread.
- ``pos_frac``: matched pairs / possible pairs of the batch (when the
  method gives ``possible_pairs``).
- ``num_pos``: the mean number of matched pairs per image.
- ``skipped_images``: the running count of images
  :class:`~mmalfm.datasets.transforms.LoadImageWithCheck` skipped as corrupt
  (kept in shared memory, so forked dataloader workers' skips count).
- ``<branch>/std``, ``<branch>/eff_rank``, ``<branch>/mean_cos``: the same
  three embedding scalars for each entry of ``branches``.

Collapse guard
--------------
With ``std_floor`` and/or ``rank_floor`` set, every check (each logged
iteration, from iteration ``guard_begin`` on) compares ``std`` / ``eff_rank``
of every branch (the flat ``embeddings`` count as the branch
``'embeddings'``) with its floor. When a value stays *below* its floor for
``patience`` consecutive checks, the hook logs **one** warning (level
WARNING) naming the branch, the metric, its value, the floor and what to
try; it does not repeat it while the value stays low. Once the value is back
at or above the floor the hook logs one INFO line and re-arms (a later drop
warns again after ``patience`` more bad checks). A check without the branch
leaves its count unchanged. The counts are per process and not
checkpointed: a resumed run starts counting afresh. The guard only warns; it
never stops the run.

Floors (a float for every branch, or a dict ``{branch: floor}``; a branch
missing from the dict is not guarded; ``None``, the default, disables the
guard, so the hook's behaviour is unchanged):

- ``std_floor``: well-spread L2-normalised ``d``-dimensional embeddings have
  ``std ≈ 1/sqrt(d)`` and a collapsed batch 0; ``0.1 / sqrt(d)`` (0.00625
  for ``d = 256``, 0.0125 for ``d = 64``) flags a batch whose spread fell
  by an order of magnitude.
- ``rank_floor``: ``eff_rank`` is 1 for a collapsed batch. Freshly
  initialised networks often give low-rank, highly correlated outputs, so
  keep the floor low (e.g. 2) and use ``guard_begin`` to skip the first
  iterations.

Cost and distributed training
-----------------------------
Everything runs under :func:`torch.no_grad` in float32 on at most
``max_samples`` rows: one SVD of a ``<= max_samples x d`` matrix per branch
every ``interval`` iterations. The hook uses only the *local* data of each rank and
performs no collective operation, so it cannot deadlock or desynchronise
ranks; the logged values are those of rank 0's batch (MMEngine logs rank 0's
message hub), ``skipped_images`` included.

The logger prints the *latest* value of each scalar at every logging
iteration, so choose ``interval`` a multiple of the logger's interval for the
printed values to be those of the printed iteration.
"""
import logging
import math
from typing import Any, Dict, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from torch import Tensor, nn

from mmalfm.datasets.transforms.loading import LoadImageWithCheck
from mmalfm.models.utils.health import HEALTH_INFO_KEY, StepHealth
from mmalfm.registry import HOOKS

DATA_BATCH = Optional[Any]
Floor = Union[None, float, Dict[str, float]]

#: The branch name of the flat ``embeddings`` in the collapse guard.
FLAT_BRANCH = 'embeddings'

#: What to try when a branch collapses (part of the guard's warning).
COLLAPSE_ADVICE = (
    'lower the learning rate or lengthen its warm-up; strengthen the '
    'anti-collapse term of this branch (e.g. CodingRateLoss beta, '
    'VICRegLoss var_weight; for a distillation branch a lower teacher '
    'temperature or a centre momentum closer to 1); check that the two '
    'views differ (augmentations not too weak) and the EMA momentum. The '
    'floors are RepresentationHealthHook(std_floor=..., rank_floor=..., '
    'patience=...).')


def _as_2d(x: Tensor, max_samples: int) -> Tensor:
    """At most ``max_samples`` rows of ``x`` as a float32 ``[N, d]``."""
    x = x.detach()
    if x.dim() == 1:
        x = x[:, None]
    return x[:max_samples].flatten(1).float()


def embedding_stats(embeddings: Tensor,
                    max_samples: Optional[int] = None,
                    center_rank: bool = False) -> Dict[str, float]:
    """``std``, ``eff_rank`` and ``mean_cos`` of a batch of embeddings.

    Args:
        embeddings (Tensor): ``[N, ...]``, one row per sample; flattened to
            ``[N, d]`` and L2-normalised row-wise.
        max_samples (int, optional): Use at most the first ``max_samples``
            rows. Defaults to all.
        center_rank (bool): Centre the rows before the SVD of ``eff_rank``.
            Defaults to False.

    Returns:
        dict: ``std``, ``eff_rank`` and ``mean_cos`` as floats (see the module
        documentation); empty when there are fewer than two rows.
    """
    with torch.no_grad():
        z = _as_2d(embeddings, max_samples or embeddings.shape[0])
        n, d = z.shape
        if n < 2 or d < 1:
            return {}
        z = F.normalize(z, dim=1)

        std = z.std(dim=0).mean()

        # Off-diagonal mean of z z^T without forming it:
        # sum_ij <z_i, z_j> = |sum_i z_i|^2, and the diagonal is |z_i|^2.
        total = z.sum(dim=0).square().sum()
        diag = z.square().sum()
        mean_cos = (total - diag) / (n * (n - 1))

        if center_rank:
            z = z - z.mean(dim=0, keepdim=True)
        s = torch.linalg.svdvals(z)
        # Rounding noise (rows have at most unit norm, so the matrix norm is
        # at most sqrt(n)) is not rank.
        tol = max(n, d) * torch.finfo(s.dtype).eps * math.sqrt(n)
        s = s[s > tol]
        if s.numel() == 0:
            eff_rank = 1.0
        else:
            p = s / s.sum()
            eff_rank = torch.exp(-(p * p.log()).sum()).item()
        return dict(std=std.item(),
                    eff_rank=eff_rank,
                    mean_cos=mean_cos.item())


def pair_stats(health: StepHealth) -> Dict[str, float]:
    """``pos_frac`` and ``num_pos`` from the per-image ``pos_pairs``
    (counts ``[N]`` or a mask ``[N, ...]``) and ``possible_pairs`` of a
    :class:`StepHealth` (empty without ``pos_pairs``; no ``pos_frac``
    without ``possible_pairs`` or when they sum to 0)."""
    pos = health.pos_pairs
    if pos is None or pos.dim() == 0 or pos.shape[0] == 0:
        return {}
    total = pos.detach().float().sum().item()
    out = {}
    if health.possible_pairs is not None:
        possible = health.possible_pairs.detach().float().sum().item()
        if possible > 0:
            out['pos_frac'] = total / possible
    out['num_pos'] = total / pos.shape[0]  # per image
    return out


@HOOKS.register_module()
class RepresentationHealthHook(Hook):
    """Log collapse and matching diagnostics every ``interval`` iterations.

    See :mod:`mmalfm.engine.hooks.representation_health` for where the
    tensors come from (the step's ``StepHealth`` in the message hub, with a
    fallback on ``model.neck``), the scalars and their cost. Use it from a
    config as::

        custom_hooks = [dict(type='RepresentationHealthHook', interval=50)]

    Args:
        interval (int): Log every ``interval`` training iterations.
            Defaults to 50.
        max_samples (int): Use at most this many embedding rows.
            Defaults to 4096.
        prefix (str): The scalars are ``train/<prefix>/<name>`` in the
            message hub (``<prefix>/<name>`` in the logs). Defaults to
            ``'health'``.
        center_rank (bool): Centre the embeddings before the SVD of
            ``eff_rank``. Defaults to False.
        std_floor (float | dict, optional): Collapse-guard floor of ``std``
            (one value for every branch, or ``{branch: floor}``); see the
            module documentation for good values. Defaults to None (off).
        rank_floor (float | dict, optional): Collapse-guard floor of
            ``eff_rank``, same forms. Defaults to None (off).
        patience (int): Number of consecutive checks below a floor before the
            warning. Defaults to 3.
        guard_begin (int): Checks at iterations before this one (0-based
            ``runner.iter``) do not count, e.g. to skip the low-rank outputs
            of a freshly initialised network. Defaults to 0.

    Example::

        custom_hooks = [
            dict(type='RepresentationHealthHook', interval=50,
                 std_floor=dict(gmsr=0.1 / 256**0.5, cdlp=0.1 / 256**0.5),
                 rank_floor=2.0, patience=3, guard_begin=500)
        ]
    """

    priority = 'NORMAL'  # before LoggerHook ('BELOW_NORMAL') logs the iter.

    def __init__(self,
                 interval: int = 50,
                 max_samples: int = 4096,
                 prefix: str = 'health',
                 center_rank: bool = False,
                 std_floor: Floor = None,
                 rank_floor: Floor = None,
                 patience: int = 3,
                 guard_begin: int = 0) -> None:
        if not isinstance(interval, int) or interval <= 0:
            raise ValueError(f'interval must be a positive int, got '
                             f'{interval!r}')
        if not isinstance(max_samples, int) or max_samples < 2:
            raise ValueError(f'max_samples must be an int >= 2, got '
                             f'{max_samples!r}')
        if not isinstance(patience, int) or patience < 1:
            raise ValueError(f'patience must be an int >= 1, got '
                             f'{patience!r}')
        if not isinstance(guard_begin, int) or guard_begin < 0:
            raise ValueError(f'guard_begin must be an int >= 0, got '
                             f'{guard_begin!r}')
        self.interval = interval
        self.max_samples = max_samples
        self.prefix = prefix.strip('/')
        self.center_rank = center_rank
        self.floors = {
            'std': self._check_floor('std_floor', std_floor),
            'eff_rank': self._check_floor('rank_floor', rank_floor)
        }
        self.patience = patience
        self.guard_begin = guard_begin
        self._handle = None
        self._captured: Optional[Tensor] = None
        # Collapse guard state, keyed by (branch, metric): the consecutive
        # bad checks (and the iteration of the first one), and the warned.
        self._bad: Dict[tuple, list] = {}
        self._warned: set = set()

    @staticmethod
    def _check_floor(name: str, floor: Floor) -> Floor:
        """Validate a floor argument (None, a number or a dict of them)."""
        if floor is None:
            return None
        for value in (floor.values() if isinstance(floor, dict) else
                      [floor]):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f'{name} must be None, a number or a dict '
                                f'{{branch: number}}, got {floor!r}')
        return floor

    def _floor(self, metric: str, branch: str) -> Optional[float]:
        floor = self.floors[metric]
        if isinstance(floor, dict):
            return floor.get(branch)
        return floor

    @staticmethod
    def _unwrap(model: nn.Module) -> nn.Module:
        return model.module if is_model_wrapper(model) else model

    def _neck_hook(self, module: nn.Module, args: Any, output: Any) -> None:
        if self._captured is not None:
            return  # keep the first call of the iteration
        if isinstance(output, (tuple, list)):
            output = output[0] if len(output) else None
        if isinstance(output, Tensor) and output.dim() >= 1:
            self._captured = output.detach()[:self.max_samples]

    def _remove_neck_hook(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self._captured = None

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: DATA_BATCH = None) -> None:
        self._remove_neck_hook()
        if not self.every_n_train_iters(runner, self.interval):
            return
        runner.message_hub.update_info(HEALTH_INFO_KEY, None, resumed=False)
        neck = getattr(self._unwrap(runner.model), 'neck', None)
        if isinstance(neck, nn.Module):
            self._handle = neck.register_forward_hook(self._neck_hook)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        if not self.every_n_train_iters(runner, self.interval):
            self._remove_neck_hook()
            return
        try:
            scalars = self.compute(runner, data_batch)
        finally:
            self._remove_neck_hook()
        for name, value in scalars.items():
            runner.message_hub.update_scalar(f'train/{self.prefix}/{name}',
                                             value)
        if runner.iter >= self.guard_begin:
            self.guard(runner, scalars)

    def _branches(self, health: StepHealth) -> Dict[str, Tensor]:
        """Embeddings by scalar-name prefix: ``''`` for the flat ones."""
        groups: Dict[str, Tensor] = {}
        embeddings = health.embeddings
        if embeddings is None and not health.branches:
            embeddings = self._captured
        if isinstance(embeddings, Tensor):
            groups[''] = embeddings
        if not isinstance(health.branches, dict):
            raise TypeError('StepHealth.branches must be a dict {branch '
                            f'name: Tensor [N, d]}}, got '
                            f'{type(health.branches)}')
        for name, value in health.branches.items():
            if not isinstance(name, str) or not name or '/' in name:
                raise ValueError('StepHealth.branches keys must be non-empty '
                                 f"names without '/', got {name!r}")
            groups[name] = value
        return groups

    def compute(self, runner, data_batch: DATA_BATCH = None) -> dict:
        """The scalars of the current iteration (no message-hub update).

        Flat names (``std``, ...) for ``embeddings`` and ``<branch>/<name>``
        for each entry of ``branches``.
        """
        health = runner.message_hub.get_info(HEALTH_INFO_KEY)
        if health is None:
            health = StepHealth()
        elif not isinstance(health, StepHealth):
            raise TypeError(f'message hub info {HEALTH_INFO_KEY!r} must be a '
                            f'StepHealth, got {type(health).__name__}')
        scalars: Dict[str, float] = {}
        with torch.no_grad():
            for branch, embeddings in self._branches(health).items():
                stats = embedding_stats(embeddings, self.max_samples,
                                        self.center_rank)
                scalars.update({
                    f'{branch}/{name}' if branch else name: value
                    for name, value in stats.items()
                })
            scalars.update(pair_stats(health))
        scalars['skipped_images'] = LoadImageWithCheck.skipped_count()
        return scalars

    def guard(self, runner, scalars: Dict[str, float]) -> None:
        """One collapse-guard check on the scalars of :meth:`compute`.

        See the module documentation; logs at most one WARNING per branch and
        metric per episode below the floor.
        """
        if all(floor is None for floor in self.floors.values()):
            return
        logger = getattr(runner, 'logger', None)
        if logger is None:
            logger = MMLogger.get_current_instance()
        for key, value in scalars.items():
            branch, _, metric = key.rpartition('/')
            branch = branch or FLAT_BRANCH
            if metric not in self.floors:
                continue
            floor = self._floor(metric, branch)
            if floor is None:
                continue
            state = (branch, metric)
            if value < floor:
                bad = self._bad.setdefault(state, [0, runner.iter])
                bad[0] += 1
                if bad[0] >= self.patience and state not in self._warned:
                    self._warned.add(state)
                    floor_name = ('std_floor'
                                  if metric == 'std' else 'rank_floor')
                    logger.log(
                        logging.WARNING,
                        f'RepresentationHealthHook: possible collapse of '
                        f"branch '{branch}': {metric} = {value:.4g} < "
                        f'{floor_name} = {floor:.4g} for {bad[0]} '
                        f'consecutive checks (iterations {bad[1] + 1}-'
                        f'{runner.iter + 1}, every {self.interval}). Try: '
                        f'{COLLAPSE_ADVICE}')
            else:
                self._bad.pop(state, None)
                if state in self._warned:
                    self._warned.discard(state)
                    logger.log(
                        logging.INFO,
                        f"RepresentationHealthHook: branch '{branch}' "
                        f'recovered: {metric} = {value:.4g} >= {floor:.4g} '
                        f'(iteration {runner.iter + 1}).')

    def after_train(self, runner) -> None:
        self._remove_neck_hook()
