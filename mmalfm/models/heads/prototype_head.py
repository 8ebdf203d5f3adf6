# Copyright (c) mmalfm contributors. All rights reserved.
"""CDLP prototype head (ALFM, Fang et al., KBS 2025).

DINO's projection head (Caron et al., ICCV 2021) on region features: an MLP
to a bottleneck, L2 normalisation, and a weight-normalised linear layer over
``K`` learnable prototypes whose outputs are the logits of the soft labels.

MMPretrain 1.2.0 ships no DINO head or neck (none under
``mmpretrain/models/{heads,necks}``), and its ``NonLinearNeck`` has neither
the GELU MLP nor the normalised prototype layer, hence this module.
"""
from typing import Optional, Tuple

import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmalfm.registry import MODELS

__all__ = ['PrototypeHead']


@MODELS.register_module()
class PrototypeHead(BaseModule):
    r"""MLP -> L2-norm -> weight-normalised prototypes (DINO head).

    ::

        e      = normalize(MLP(x))                         [R, bottleneck]
        logits = e @ (g * normalize(V, dim=1))^T           [R, K]

    ``MLP`` = ``num_layers`` linear layers ``in -> hid -> ... -> hid ->
    bottleneck`` with ``act`` (and ``norm_cfg``, if any) after every layer
    but the last. ``V`` (``prototypes.weight``, ``[K, bottleneck]``) is
    normalised row-wise in :meth:`forward`; the gain ``g`` is fixed to 1
    (``norm_last_layer=True``, DINO's default, the logits are then cosines)
    or a learnable ``[K]`` vector initialised to 1.

    Why not ``torch.nn.utils.weight_norm``: that hook recomputes the weight
    from ``weight_g``/``weight_v`` in a forward pre-hook and keeps the
    derived ``weight`` as a plain attribute; deep copies of such modules
    (MMEngine's EMA target is a ``deepcopy``) are fragile, the function is
    deprecated, and its replacement
    (``torch.nn.utils.parametrizations.weight_norm``) changes the state-dict
    keys to ``parametrizations.weight.original0/1``. Normalising ``V`` in
    the forward gives the same function and gradient with one plain
    parameter, a clean EMA and stable keys.

    Args:
        in_channels (int): Input (RoI head) feature size. Defaults to 1024.
        hid_channels (int): Hidden width. Defaults to 2048.
        bottleneck_channels (int): Bottleneck (L2-normalised embedding)
            size. Defaults to 256.
        num_prototypes (int): Number of prototypes ``K``. Defaults to 4096.
        num_layers (int): Linear layers of the MLP (>= 1). Defaults to 3.
        act_cfg (dict): Activation between MLP layers. Defaults to GELU.
        norm_cfg (dict, optional): Norm after hidden layers (e.g. ``BN1d``);
            None (DINO's default) for none.
        norm_last_layer (bool): Fix the prototype gain to 1. Defaults to
            True.
        init_cfg (dict, optional): Defaults to DINO's truncated normal
            (std 0.02, bias 0) on every linear layer.
    """

    def __init__(self,
                 in_channels: int = 1024,
                 hid_channels: int = 2048,
                 bottleneck_channels: int = 256,
                 num_prototypes: int = 4096,
                 num_layers: int = 3,
                 act_cfg: dict = dict(type='GELU'),
                 norm_cfg: Optional[dict] = None,
                 norm_last_layer: bool = True,
                 init_cfg: Optional[dict] = dict(
                     type='TruncNormal', layer='Linear', std=0.02,
                     bias=0.)) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        for name, value in (('in_channels', in_channels),
                            ('hid_channels', hid_channels),
                            ('bottleneck_channels', bottleneck_channels),
                            ('num_prototypes', num_prototypes)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be a positive int, got '
                                 f'{value!r}')
        layers = []
        dims = [in_channels] + [hid_channels] * (num_layers - 1) + \
            [bottleneck_channels]
        for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(cin, cout))
            if i < num_layers - 1:
                if norm_cfg is not None:
                    layers.append(build_norm_layer(norm_cfg, cout)[1])
                layers.append(build_activation_layer(act_cfg))
        self.mlp = nn.Sequential(*layers)
        self.prototypes = nn.Linear(
            bottleneck_channels, num_prototypes, bias=False)
        self.norm_last_layer = norm_last_layer
        if norm_last_layer:
            self.register_parameter('gain', None)
        else:
            self.gain = nn.Parameter(self.prototypes.weight.new_ones(
                num_prototypes))
        self.in_channels = in_channels
        self.num_prototypes = num_prototypes

    def embed(self, x: Tensor) -> Tensor:
        """L2-normalised bottleneck embeddings.

        Args:
            x (Tensor): ``[R, in_channels]`` features.

        Returns:
            Tensor: ``[R, bottleneck_channels]``, unit rows.
        """
        if x.dim() != 2 or x.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects [R, '
                             f'{self.in_channels}] features, got '
                             f'{tuple(x.shape)}; set in_channels to the RoI '
                             f'head output size (fc_out_channels)')
        return F.normalize(self.mlp(x), dim=-1)

    def classify(self, e: Tensor) -> Tensor:
        """Prototype logits of embeddings from :meth:`embed`.

        Args:
            e (Tensor): ``[R, bottleneck_channels]``.

        Returns:
            Tensor: ``[R, num_prototypes]`` logits (cosines to the
            prototypes when ``norm_last_layer``).
        """
        weight = F.normalize(self.prototypes.weight, dim=1)
        if self.gain is not None:
            weight = weight * self.gain[:, None]
        return F.linear(e, weight)

    def forward_stages(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """``[R, in_channels]`` -> ``(embeddings [R, bottleneck_channels],
        logits [R, num_prototypes])``: both outputs for ``RoIEmbedding``."""
        e = self.embed(x)
        return e, self.classify(e)

    def forward(self, x: Tensor) -> Tensor:
        """``[R, in_channels]`` features -> ``[R, num_prototypes]`` logits."""
        return self.classify(self.embed(x))
