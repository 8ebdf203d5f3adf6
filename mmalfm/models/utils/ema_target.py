# Copyright (c) mmalfm contributors. All rights reserved.
"""The EMA target network of a self-supervised algorithm (a mixin)."""
from typing import Sequence, Tuple

from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope
from torch import nn

from mmalfm.registry import MODELS

__all__ = ['EMATargetMixin', 'mirror_modules']


def mirror_modules(module: nn.Module, paths: Sequence[str]) -> nn.ModuleDict:
    """Nested ``ModuleDict`` holding the sub-modules at the dotted
    ``paths`` of ``module`` (None skipped), keyed like ``module``: the
    part of a head an EMA target copies (``'embedding.projector'`` ->
    ``out.embedding.projector``)."""
    out = nn.ModuleDict()
    for path in paths:
        *parents, leaf = path.split('.')
        src, dst = module, out
        for key in parents:
            src = getattr(src, key)
            if key not in dst:
                dst[key] = nn.ModuleDict()
            dst = dst[key]
        if getattr(src, leaf, None) is not None:
            dst[leaf] = getattr(src, leaf)
    return out


class EMATargetMixin:
    """An EMA copy of some online modules, held as ``target_net``.

    The host sets ``target_ema`` (EMA config or None), ``target_net``
    (None) and ``_ema_iter`` (None) before calling :meth:`build_target`;
    :attr:`target_modules` names the online modules the target copies
    (those that exist). State-dict keys: ``target_net.module.<name>.*``.
    """

    #: Online modules copied into the EMA target (those that are not None).
    target_modules: Tuple[str, ...] = ()

    def build_target(self) -> None:
        """(Re)build the EMA target from the current online modules.

        Called at the end of ``__init__``; a subclass that adds modules
        listed in :attr:`target_modules` after ``super().__init__()`` calls
        it again.
        """
        if self.target_ema is None:
            return
        with DefaultScope.overwrite_default_scope('mmalfm'):
            self.target_net = MODELS.build(
                dict(self.target_ema, model=self._online_modules()))

    def _online_modules(self) -> nn.ModuleDict:
        """The online modules the target copies (same keys as the target)."""
        return nn.ModuleDict({
            name: getattr(self, name)
            for name in self.target_modules
            if getattr(self, name, None) is not None
        })

    def update_target(self) -> None:
        """EMA update of the target, at most once per training iteration.

        The iteration is MessageHub's ``iter`` (set by the runner); calling
        twice in one iteration (several forwards per step) updates once.
        Without a runner (``iter`` unset) every call updates. ``CosineEMA``
        reads its schedule length from MessageHub's ``max_iters``.
        """
        if self.target_net is None:
            return
        it = MessageHub.get_current_instance().get_info('iter')
        if it is not None and it == self._ema_iter:
            return
        self._ema_iter = it
        self.target_net.update_parameters(self._online_modules())

    @property
    def target(self) -> nn.ModuleDict:
        """The target modules (``ModuleDict`` keyed like the online)."""
        if self.target_net is None:
            raise RuntimeError(f'{type(self).__name__} has no target network'
                               ' (target_ema=None)')
        return self.target_net.module
