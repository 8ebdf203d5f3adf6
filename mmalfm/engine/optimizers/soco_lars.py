# Copyright (c) mmalfm contributors. All rights reserved.
"""LARS exactly as SoCo's released ``contrast/lars.py`` (Wei et al., 2021)."""
from typing import Callable, Optional

import torch
from mmpretrain.engine.optimizers import LARS

from mmalfm.registry import OPTIMIZERS

__all__ = ['SoCoLARS']


@OPTIMIZERS.register_module()
class SoCoLARS(LARS):
    """SoCo's LARS: SGD with momentum on trust-ratio-scaled gradients.

    For every parameter ``w`` with gradient ``g`` of a group with weight
    decay ``wd``, learning rate ``lr``, momentum ``m``::

        d   = g + wd * w                                  # decay first
        d  *= eta * ||w|| / (||d|| + eps)   if ||w|| > 0 and ||d|| > 0
        buf = m * buf + (1 - dampening) * d               # torch.optim.SGD
        w  -= lr * buf                   (nesterov: lr * (d + m * buf))

    It differs from mmpretrain's :class:`~mmpretrain.engine.optimizers.LARS`
    in two places, both as in the released SoCo code (LARS wrapping
    ``torch.optim.SGD``):

    * the trust ratio's denominator is ``||g + wd * w||`` (mmpretrain:
      ``||g|| + wd * ||w||``), and its zero test uses that norm;
    * ``lr`` multiplies the momentum buffer at the update (torch SGD)
      instead of being folded into the buffer (mmpretrain), which matters
      whenever the learning rate changes (warm-up, cosine).

    Groups with ``lars_exclude=True`` skip the scaling. As in mmpretrain's
    BYOL configs, SoCo's exclusion of ``ndim <= 1`` parameters from decay and
    scaling is configured with ``paramwise_cfg``, e.g. ``custom_keys={'bn':
    dict(decay_mult=0, lars_exclude=True), 'bias': dict(decay_mult=0,
    lars_exclude=True), 'downsample.1': dict(decay_mult=0,
    lars_exclude=True)}``; such a parameter then gets plain SGD momentum.

    Args:
        params (Iterable): Parameters or parameter-group dicts.
        lr (float): Learning rate.
        momentum (float): Momentum factor. Defaults to 0.
        weight_decay (float): Weight decay, added to the gradient before the
            trust ratio. Defaults to 0.
        dampening (float): Dampening for momentum. Defaults to 0.
        eta (float): Trust coefficient. Defaults to 0.001.
        nesterov (bool): Nesterov momentum. Defaults to False.
        eps (float): Added to the denominator. Defaults to 1e-8.
    """

    @torch.no_grad()
    def step(self, closure: Optional[Callable] = None):
        """Perform a single optimisation step.

        Args:
            closure (callable, optional): Re-evaluates the model and returns
                the loss.

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        for group in self.param_groups:
            weight_decay = group['weight_decay']
            momentum = group['momentum']
            dampening = group['dampening']
            eta = group['eta']
            nesterov = group['nesterov']
            lr = group['lr']
            lars_exclude = group.get('lars_exclude', False)

            for p in group['params']:
                if p.grad is None:
                    continue
                d_p = p.grad
                if weight_decay != 0:
                    d_p = d_p.add(p, alpha=weight_decay)
                if not lars_exclude:
                    w_norm = torch.linalg.vector_norm(p)
                    g_norm = torch.linalg.vector_norm(d_p)
                    trust = torch.where((w_norm > 0) & (g_norm > 0),
                                        eta * w_norm / (g_norm + self.eps),
                                        torch.ones_like(w_norm))
                    d_p = d_p.mul(trust)
                if momentum != 0:
                    state = self.state[p]
                    if 'momentum_buffer' not in state:
                        buf = state['momentum_buffer'] = \
                            torch.clone(d_p).detach()
                    else:
                        buf = state['momentum_buffer']
                        buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
                    d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
                p.add_(d_p, alpha=-lr)
        return loss
