# Copyright (c) mmalfm contributors. All rights reserved.
"""Export the online network of a pretraining checkpoint for fine-tuning.

The command-line tools ``tools/model_converters/export_to_mmdet.py`` and
``export_to_detectron2.py`` are thin wrappers around this module
(see docs/user_guides/transfer.md).

Every algorithm keeps its **online** detection modules under fixed names
(``backbone``: mmdet/mmpretrain ``ResNet``; ``neck``: mmdet ``FPN`` or
CrossCL's ``PartialFPN``; ``roi_head``: ``RegionRoIHead`` whose keys already
are mmdet's ``roi_head.bbox_head.shared_convs/shared_fcs.*`` or
``roi_head.shared_head.layer4.*``), so a method is the
:class:`~mmalfm.structures.TransferSpec` its algorithm class declares
(``transfer``; :func:`~mmalfm.structures.find_transfer_spec`) and the
exporter needs no per-method code: it keeps the requested groups and drops
everything else (EMA target, projectors, predictors, queues, prototypes,
global necks and heads) for the reason the declaration gives.

Two targets:

* **mmdet**: ``{'state_dict': ..., 'meta': ...}`` with whole-detector keys,
  loaded by a *detector-level* ``init_cfg`` (see :data:`RECOMMENDED_INIT_CFG`).
* **detectron2**: ``{'model': ..., '__author__': ..., 'matching_heuristics':
  True}`` with detectron2 names (``stem``, ``res2-5``, ``convK.norm``,
  ``shortcut``, ``backbone.fpn_lateral/fpn_output{l}``,
  ``roi_heads.box_head.convK/fcK``), derived from the mmdet export by a
  reversible renaming (:func:`mmdet_to_detectron2` /
  :func:`detectron2_to_mmdet`).
"""
import os.path as osp
import pickle
import re
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from mmalfm.structures.transfer import (TransferDeclarationError,
                                        TransferSpec, find_transfer_spec,
                                        transfer_specs)
from mmalfm.utils.checkpoint import (UnsafeCheckpointError,
                                     safe_checkpoint_globals, safe_load)

__all__ = [
    'ExportError', 'ExportResult', 'CheckReport', 'export_methods',
    'RECOMMENDED_INIT_CFG', 'load_training_checkpoint', 'training_model_cfg',
    'detect_method', 'resnet_layout', 'reference_keys', 'export_mmdet',
    'check_export', 'check_against_detector', 'build_detector_state',
    'partial_fpn_target', 'save_mmdet_export',
    'mmdet_to_detectron2', 'detectron2_to_mmdet', 'export_detectron2',
    'save_detectron2_export', 'load_detectron2_export', 'format_summary'
]

#: Format version written into ``meta['mmalfm_export']``.
EXPORT_VERSION = 1

#: The detector-level ``init_cfg`` that loads an mmdet export (documented in
#: docs/user_guides/transfer.md; the benchmark configs use it).
RECOMMENDED_INIT_CFG = (
    "model = dict(init_cfg=dict(type='mmalfm.PretrainedExport', "
    "checkpoint=EXPORT), backbone=dict(init_cfg=None))")


class ExportError(ValueError):
    """A checkpoint cannot be exported as asked (message names the file)."""


def export_methods() -> Dict[str, TransferSpec]:
    """Every method the exporter knows (``--method`` choices): the
    declarations of :func:`~mmalfm.structures.transfer_specs`."""
    return transfer_specs()



_ALLOWED_PICKLE = None


# --------------------------------------------------------------- loading
def read_checkpoint(path: str) -> Tuple[Dict[str, Tensor], dict]:
    """Read the weights of any checkpoint safely (``weights_only=True``).

    Args:
        path (str): An MMEngine checkpoint (``state_dict`` + ``meta``), an
            export, or a bare state dict.

    Returns:
        tuple: ``(state_dict, meta)``; ``meta`` is ``{}`` if absent. A
        ``module.`` prefix (DDP) is stripped.

    Raises:
        FileNotFoundError: No such file.
        ExportError: Not a (safe) checkpoint, or no model weights in it.
    """
    if not osp.isfile(osp.expanduser(path)):
        raise FileNotFoundError(
            f'Checkpoint not found: {path}. Pass a pretraining checkpoint '
            'written by tools/train.py (e.g. work_dirs/<config>/epoch_N.pth).')
    try:
        ckpt = safe_load(path, map_location='cpu')
    except UnsafeCheckpointError as err:
        if 'GLOBAL' in str(err.__cause__):  # a class outside the allow-list
            raise ExportError(str(err)) from err
        raise ExportError(f'{path} is not a readable PyTorch checkpoint '
                          f'({err.__cause__})') from err
    except (RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise ExportError(f'{path} is not a readable PyTorch checkpoint '
                          f'({type(err).__name__}: {err})') from err
    if not isinstance(ckpt, dict):
        raise ExportError(f'{path}: expected a checkpoint dict, got '
                          f'{type(ckpt).__name__}.')
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
    if 'state_dict' in ckpt:
        state = ckpt['state_dict']
    elif 'model' in ckpt and isinstance(ckpt['model'], dict):
        state = ckpt['model']
    elif ckpt and all(isinstance(v, Tensor) for v in ckpt.values()):
        state = ckpt
    else:
        state = {}
    state = OrderedDict(
        (k[len('module.'):] if k.startswith('module.') else k, v)
        for k, v in state.items() if isinstance(v, Tensor))
    if not state:
        raise ExportError(
            f'{path} holds no model weights (top-level keys: '
            f'{sorted(ckpt)[:8]}). Pass a checkpoint saved by the training '
            'runner (with a `state_dict`), not an optimizer/log-only file.')
    return state, meta


def load_training_checkpoint(path: str) -> Tuple[Dict[str, Tensor], dict]:
    """:func:`read_checkpoint` of a training checkpoint: an export is
    refused (with the fix).

    Raises:
        FileNotFoundError: No such file.
        ExportError: Not a (safe) training checkpoint.
    """
    state, meta = read_checkpoint(path)
    if 'mmalfm_export' in meta:
        raise ExportError(
            f'{path} already is an mmalfm export ({meta["mmalfm_export"]}); '
            'export from the pretraining checkpoint it was made from.')
    return state, meta


def training_model_cfg(meta: dict) -> Optional[dict]:
    """The ``model`` dict of the config MMEngine stored in ``meta['cfg']``
    (its ``pretty_text``), or None."""
    text = meta.get('cfg')
    if not isinstance(text, str):
        return None
    from mmengine.config import Config
    try:
        cfg = Config.fromstring(text, '.py')
    except Exception:  # noqa: BLE001 - any unparsable text: use the keys
        return None
    model = cfg.get('model')
    return model.to_dict() if hasattr(model, 'to_dict') else model


def _full_type_name(cfg: Optional[dict]) -> Optional[str]:
    """A config's ``type`` as a string, scope kept (None if absent)."""
    if not isinstance(cfg, dict) or 'type' not in cfg:
        return None
    t = cfg['type']
    return t if isinstance(t, str) else getattr(t, '__name__', str(t))


def _type_name(cfg: Optional[dict]) -> Optional[str]:
    name = _full_type_name(cfg)
    return None if name is None else name.split('.')[-1]


def _method_from_keys(state: Dict[str, Tensor],
                      methods: Dict[str, TransferSpec]) -> Optional[str]:
    """The first method whose declared ``key_signature`` the state has
    (None if none: an ambiguous layout)."""
    for spec in methods.values():
        if spec.key_signature and any(
                k.startswith(spec.key_signature) for k in state):
            return spec.name
    return None


def detect_method(state: Dict[str, Tensor],
                  meta: dict,
                  requested: str = 'auto',
                  path: str = 'checkpoint') -> Tuple[TransferSpec, str]:
    """Recognise the method of a training checkpoint.

    From the transfer declaration of the stored config's model ``type``
    first, else from key layouts unique to one method (declared
    ``key_signature``). ``requested`` (``--method``) must agree.

    Returns:
        tuple: ``(spec, how)`` with ``how`` naming the evidence.

    Raises:
        ExportError: Unknown method, ambiguous layout without ``--method``,
            or ``--method`` disagreeing with the checkpoint (naming both).
    """
    # the stored config first: its custom_imports register plugin methods
    model_cfg = training_model_cfg(meta)
    methods = export_methods()
    if requested != 'auto' and requested not in methods:
        raise ExportError(f'--method {requested!r} is not one of '
                          f'{["auto", *methods]}')
    model_type = _type_name(model_cfg)
    found, how = None, None
    if model_type is not None:
        try:
            spec = find_transfer_spec(_full_type_name(model_cfg))
            methods.setdefault(spec.name, spec)
            found = spec.name
            how = f"config model type '{model_type}'"
        except TransferDeclarationError as err:
            if requested == 'auto':
                raise ExportError(
                    f'{path} was trained as model type {model_type!r}, '
                    f'which is not a method this exporter knows '
                    f'({", ".join(methods)}). Pass --method NAME to export '
                    'it with that method\'s profile if its modules follow '
                    f'the naming of that method. ({err})') from err
            warnings.warn(f'{path}: model type {model_type!r} is unknown; '
                          f'exporting it as --method {requested}')
            return methods[requested], (f"--method {requested} (config "
                                        f"model type '{model_type}')")
    if found is None:
        found = _method_from_keys(state, methods)
        how = 'state-dict key layout' if found else None
    if requested != 'auto':
        if found is not None and found != requested:
            raise ExportError(
                f'{path} is a {found} checkpoint (from its {how}) but '
                f'--method {requested} was given. Export it with --method '
                f'{found} (or --method auto), or pass the {requested} '
                'checkpoint you meant.')
        return methods[requested], how or '--method'
    if found is None:
        raise ExportError(
            f'Cannot tell the method of {path}: no training config in its '
            'meta and an ambiguous key layout. Pass --method '
            f'{{{",".join(methods)}}}.')
    return methods[found], how


# ---------------------------------------------------------------- layout
#: ResNet depth by (block type, blocks per stage).
_RESNET_DEPTHS = {
    ('basic', (2, 2, 2, 2)): 18,
    ('basic', (3, 4, 6, 3)): 34,
    ('bottleneck', (3, 4, 6, 3)): 50,
    ('bottleneck', (3, 4, 23, 3)): 101,
    ('bottleneck', (3, 8, 36, 3)): 152,
}


def _strip(state: Dict[str, Tensor], prefix: str) -> Dict[str, Tensor]:
    return OrderedDict((k[len(prefix):], v) for k, v in state.items()
                       if k.startswith(prefix))


def resnet_layout(backbone: Dict[str, Tensor]) -> dict:
    """Infer a ResNet's architecture from its (mmdet-named) weights.

    Args:
        backbone (dict): Keys without the ``backbone.`` prefix, res5 as
            ``layer4.*`` (also for C4 pretraining).

    Returns:
        dict: ``block`` ('basic'|'bottleneck'), ``blocks`` (per stage),
        ``depth`` (None if no standard depth matches), ``stem_channels``,
        ``base_channels``, ``stage_channels`` (output channels per stage).

    Raises:
        ExportError: Not a ResNet with mmdet/torchvision names.
    """
    if 'conv1.weight' not in backbone:
        raise ExportError(
            'the backbone has no `conv1.weight`: only ResNets with mmdet / '
            'torchvision names (conv1, bn1, layerX.Y.convK) are supported '
            f'(found e.g. {list(backbone)[:3]})')
    block = 'bottleneck' if any(
        re.match(r'layer\d+\.\d+\.conv3\.', k) for k in backbone) else 'basic'
    blocks, stage_channels = [], []
    for stage in range(1, 5):
        ids = {
            int(m.group(1))
            for k in backbone
            for m in [re.match(rf'layer{stage}\.(\d+)\.', k)] if m
        }
        if not ids:
            break
        blocks.append(max(ids) + 1)
        last = 'conv3' if block == 'bottleneck' else 'conv2'
        w = backbone.get(f'layer{stage}.{max(ids)}.{last}.weight')
        stage_channels.append(int(w.shape[0]) if w is not None else None)
    base = backbone.get('layer1.0.conv1.weight')
    return dict(
        block=block,
        blocks=tuple(blocks),
        depth=_RESNET_DEPTHS.get((block, tuple(blocks))),
        stem_channels=int(backbone['conv1.weight'].shape[0]),
        base_channels=int(base.shape[0]) if base is not None else None,
        stage_channels=tuple(stage_channels))


def _reference_resnet(depth: int, stem: int, base: int) -> Dict[str, Tensor]:
    """State dict (shapes) of mmdet's ResNet of that depth and widths."""
    from mmdet.models.backbones import ResNet
    return ResNet(
        depth=depth, stem_channels=stem, base_channels=base,
        out_indices=(3, )).state_dict()


def reference_keys(state: Dict[str, Tensor],
                   model_cfg: Optional[dict],
                   groups: Sequence[str],
                   c4: bool = False) -> Tuple[Dict[str, Tuple], List[str]]:
    """The key layout an export of this architecture must have.

    The backbone is an mmdet ``ResNet`` of the configured depth (from the
    stored training config; else inferred from the blocks) with the widths of
    the checkpoint; the FPN and box head are built from the stored config.

    Returns:
        tuple: ``({key: shape}, notes)``; notes say what could not be
        checked.
    """
    notes, ref = [], OrderedDict()
    bb = _online_backbone(state)
    layout = resnet_layout(bb)
    depth = None
    bcfg = (model_cfg or {}).get('backbone') or {}
    if isinstance(bcfg, dict) and isinstance(bcfg.get('depth'), int):
        depth = bcfg['depth']
    depth = depth or layout['depth']
    if depth is None:
        notes.append('backbone blocks per stage '
                     f'{layout["blocks"]} match no ResNet depth')
    else:
        for k, v in _reference_resnet(depth, layout['stem_channels'],
                                      layout['base_channels']
                                      or 64).items():
            if c4 and k.startswith('layer4.'):
                ref['roi_head.shared_head.' + k] = tuple(v.shape)
            else:
                ref['backbone.' + k] = tuple(v.shape)
    if 'neck' in groups and model_cfg and model_cfg.get('neck'):
        ncfg = dict(model_cfg['neck'])
        if _type_name(ncfg) == 'FPN':
            from mmdet.models.necks import FPN
            ncfg.pop('type')
            ncfg.pop('init_cfg', None)
            if ncfg.get('norm_cfg'):
                ncfg['norm_cfg'] = dict(ncfg['norm_cfg'], type='BN')
            for k, v in FPN(**ncfg).state_dict().items():
                ref['neck.' + k] = tuple(v.shape)
    elif 'neck' in groups:
        notes.append('no training config in the checkpoint: FPN keys not '
                     'checked (use --check)')
    hcfg = ((model_cfg or {}).get('roi_head') or {}).get('bbox_head')
    if 'head' in groups and isinstance(hcfg, dict):
        from mmalfm.models.heads import ConvFCRoIFeatureHead
        hcfg = dict(hcfg)
        if _type_name(hcfg) == 'ConvFCRoIFeatureHead':
            hcfg.pop('type')
            hcfg.pop('init_cfg', None)
            if hcfg.get('norm_cfg'):
                hcfg['norm_cfg'] = dict(hcfg['norm_cfg'], type='BN')
            for k, v in ConvFCRoIFeatureHead(**hcfg).state_dict().items():
                ref['roi_head.bbox_head.' + k] = tuple(v.shape)
    elif 'head' in groups:
        notes.append('no training config in the checkpoint: box-head keys '
                     'not checked (use --check)')
    return ref, notes


def _online_backbone(state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """``backbone.*`` with C4 res5 (``roi_head.shared_head.layer4``) merged
    in as ``layer4.*``."""
    bb = _strip(state, 'backbone.')
    for k, v in _strip(state, 'roi_head.shared_head.').items():
        if k.startswith('layer4.'):
            bb[k] = v
    return bb


# ---------------------------------------------------------------- export
@dataclass
class ExportResult:
    """An export and what went into it.

    Attributes:
        state_dict (OrderedDict): Exported tensors (target names).
        groups (dict): ``{group: [target keys]}`` written.
        dropped (dict): ``{group: (count, reason)}`` not written.
        method (str): The method name.
        detected_by (str): How the method was recognised.
        fpn (dict): FPN facts (``level_offset``: detectron2 level of
            ``lateral_convs.0``; ``partial``; ``bias``).
        missing (list[str]): Keys of the reference layout not written.
        mismatched (list[str]): ``key: export shape vs reference shape``.
        notes (list[str]): Other remarks for the summary.
    """
    state_dict: 'OrderedDict[str, Tensor]'
    groups: Dict[str, List[str]]
    dropped: Dict[str, Tuple[int, str]]
    method: str
    detected_by: str
    fpn: dict = field(default_factory=dict)
    missing: List[str] = field(default_factory=list)
    mismatched: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def _fpn_start_level(state: Dict[str, Tensor], stage_channels: Sequence
                     ) -> int:
    """Backbone stage (0 = C2) feeding ``neck.lateral_convs.0``."""
    w = state.get('neck.lateral_convs.0.conv.weight')
    if w is not None and int(w.shape[1]) in stage_channels:
        return list(stage_channels).index(int(w.shape[1]))
    return 0


def export_mmdet(state: Dict[str, Tensor],
                 spec: TransferSpec,
                 *,
                 with_neck: bool = False,
                 with_head: bool = False,
                 c4: bool = False,
                 model_cfg: Optional[dict] = None,
                 partial_fpn_c3_index: int = 1,
                 partial_fpn_bias: bool = False,
                 detected_by: str = '',
                 path: str = 'checkpoint') -> ExportResult:
    """Select and rename the online tensors for an mmdet detector.

    Args:
        state (dict): The training state dict.
        spec (TransferSpec): The method's transfer declaration.
        with_neck (bool): Export the FPN as ``neck.*``.
        with_head (bool): Export ``roi_head.bbox_head.shared_convs/fcs.*``.
        c4 (bool): Put res5 under ``roi_head.shared_head.layer4.*``.
        model_cfg (dict, optional): The training ``model`` config (for the
            reference layout).
        partial_fpn_c3_index (int): CrossCL: mmdet ``lateral_convs`` index
            of C3 (1 for ``FPN(start_level=0)`` over C2-C5, 0 otherwise).
        partial_fpn_bias (bool): CrossCL: keep conv biases (False when the
            downstream FPN has a norm, i.e. bias-free convs).
        detected_by (str): For the summary.
        path (str): The checkpoint path, for messages.

    Returns:
        ExportResult: With ``missing``/``mismatched`` against the reference
        layout of the architecture.

    Raises:
        ExportError: A requested part is absent or invalid for the method.
    """
    if c4 and (with_neck or with_head):
        raise ExportError('--c4 exports backbone + res5 for a C4 detector, '
                          'which has no FPN or 4conv1fc box head: drop '
                          '--with-neck/--with-head (or --c4).')
    if with_neck and spec.neck is None:
        raise ExportError(
            f'--with-neck: {spec.name} has no detection neck (its `neck.*` '
            f'keys, if any, are a projector MLP); export the backbone only.')
    if with_head and not spec.box_head:
        raise ExportError(f'--with-head: {spec.name} pretrains no box head '
                          '(roi_head.bbox_head); export without --with-head.')

    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in state)

    if not has('backbone.'):
        raise ExportError(f'{path} has no `backbone.*` weights (keys: '
                          f'{sorted({k.split(".")[0] for k in state})}).')
    if with_neck and spec.neck == 'fpn' and not has('neck.lateral_convs.'):
        raise ExportError(
            f'--with-neck: {path} has no mmdet FPN (`neck.lateral_convs.*`); '
            f'this {spec.name} model was trained without an FPN.')
    if with_neck and spec.neck == 'partial_fpn' and not has(
            'neck.fpn_lateral3.'):
        raise ExportError(f'--with-neck: {path} has no PartialFPN '
                          '(`neck.fpn_lateral3.*`).')
    if with_head and not has('roi_head.bbox_head.'):
        raise ExportError(f'--with-head: {path} has no box head '
                          '(`roi_head.bbox_head.*`; e.g. a C4 model).')
    pretrained_c4 = has('roi_head.shared_head.layer4.')
    if pretrained_c4 and has('backbone.layer4.'):
        raise ExportError(f'{path} has res5 twice (backbone.layer4 and '
                          'roi_head.shared_head.layer4).')

    out: 'OrderedDict[str, Tensor]' = OrderedDict()
    groups: Dict[str, List[str]] = OrderedDict()
    dropped: Dict[str, List[str]] = OrderedDict()
    notes: List[str] = []
    fpn: dict = {}

    def put(group: str, key: str, value: Tensor) -> None:
        out[key] = value.detach().clone().contiguous()
        groups.setdefault(group, []).append(key)

    def drop(group: str, key: str) -> None:
        dropped.setdefault(group, []).append(key)

    partial_map = {}
    if spec.neck == 'partial_fpn' and with_neck:
        from mmalfm.models.necks.partial_fpn import PartialFPN
        partial_map = PartialFPN.mmdet_key_map(
            c3_index=partial_fpn_c3_index,
            with_bias=partial_fpn_bias,
            prefix='neck.')
        fpn.update(partial=True, bias=partial_fpn_bias,
                   level_offset=3 - partial_fpn_c3_index)
    stage_channels = resnet_layout(_online_backbone(state))['stage_channels']
    if spec.neck == 'fpn' and with_neck:
        fpn.update(partial=False, bias=has('neck.lateral_convs.0.conv.bias'),
                   level_offset=2 + _fpn_start_level(state, stage_channels))

    for key, value in state.items():
        top = key.split('.', 1)[0]
        if key.startswith('backbone.'):
            if c4 and key.startswith('backbone.layer4.'):
                put('roi_head.shared_head',
                    'roi_head.shared_head.' + key[len('backbone.'):], value)
            else:
                put('backbone', key, value)
        elif key.startswith('roi_head.shared_head.layer4.'):
            if c4:
                put('roi_head.shared_head', key, value)
            else:  # C4 pretraining into a full-ResNet detector
                put('backbone',
                    'backbone.' + key[len('roi_head.shared_head.'):], value)
        elif key.startswith('neck.') and spec.neck is not None:
            if not with_neck:
                drop('neck (not requested: --with-neck)', key)
            elif spec.neck == 'fpn':
                put('neck', key, value)
            elif key in partial_map:
                put('neck', partial_map[key], value)
            else:
                drop('neck biases (downstream FPN convs are bias-free)', key)
        elif key.startswith('roi_head.bbox_head.') and spec.box_head:
            if with_head:
                put('roi_head.bbox_head', key, value)
            else:
                drop('roi_head.bbox_head (not requested: --with-head)', key)
        else:
            drop(top, key)
    if pretrained_c4 and not c4:
        notes.append('C4 pretraining: res5 (roi_head.shared_head.layer4) '
                     'written as backbone.layer4; pass --c4 for a C4 '
                     'detector')
    if spec.neck == 'partial_fpn' and with_neck:
        notes.append(
            'CrossCL PartialFPN -> mmdet FPN: fpn_lateral3/4/5 -> '
            f'neck.lateral_convs.{partial_fpn_c3_index}..'
            f'{partial_fpn_c3_index + 2}, fpn_output3/4 -> neck.fpn_convs.'
            f'{partial_fpn_c3_index}..{partial_fpn_c3_index + 1}; '
            + ('biases kept' if partial_fpn_bias else
               'biases dropped, norms start fresh') +
            '; P2 lateral/output and P5 output keep their init')

    req = ['backbone'] + (['neck'] if with_neck else []) + (
        ['head'] if with_head else [])
    ref, ref_notes = reference_keys(state, model_cfg, req, c4=c4)
    notes += ref_notes
    if spec.neck == 'partial_fpn':  # only the mapped convs are pretrained
        ref = OrderedDict(
            (k, s) for k, s in ref.items() if not k.startswith('neck.'))
    missing = [k for k in ref if k not in out]
    mismatched = [
        f'{k}: export {tuple(out[k].shape)} vs expected {ref[k]}'
        for k in ref if k in out and tuple(out[k].shape) != ref[k]
    ]
    return ExportResult(
        state_dict=out,
        groups=groups,
        dropped=OrderedDict(
            (g, (len(ks), spec.drop_reason(g))) for g, ks in
            dropped.items()),
        method=spec.name,
        detected_by=detected_by,
        fpn=fpn,
        missing=missing,
        mismatched=mismatched,
        notes=notes)


# ----------------------------------------------------------------- check
@dataclass
class CheckReport:
    """An export compared with a detector's state dict.

    Attributes:
        missing (list[str]): Required detector keys the export lacks.
        mismatched (list[str]): ``key: export shape vs detector shape``.
        unexpected (list[str]): Exported keys the detector lacks.
        fresh (dict): ``{group: count}`` detector tensors left to their init.
        hints (list[str]): Likely fixes.
    """
    missing: List[str]
    mismatched: List[str]
    unexpected: List[str]
    fresh: Dict[str, int]
    hints: List[str]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched or self.unexpected)


def _required(key: str, groups: Sequence[str], num_laterals: int,
              partial_keys: Optional[set]) -> bool:
    """Is a detector key one the export must provide?"""
    if key.endswith('num_batches_tracked'):
        return False
    if key.startswith('backbone.'):
        return True
    if 'roi_head.shared_head' in groups and re.match(
            r'roi_head\.shared_head\.layer4\.\d+\.', key):
        return True
    if 'neck' in groups:
        if partial_keys is not None:
            return key in partial_keys
        m = re.match(r'neck\.(lateral_convs|fpn_convs)\.(\d+)\.', key)
        if m and int(m.group(2)) < num_laterals:
            return True
    if 'roi_head.bbox_head' in groups and re.match(
            r'roi_head\.bbox_head\.shared_(convs|fcs)\.', key):
        return True
    return False


def _group_of(key: str) -> str:
    for p in ('roi_head.shared_head', 'roi_head.bbox_head',
              'roi_head.mask_head', 'backbone', 'neck', 'rpn_head',
              'roi_head'):
        if key.startswith(p + '.'):
            return p
    return key.split('.', 1)[0]


def check_export(export: Dict[str, Tensor],
                 detector: Dict[str, Tensor],
                 groups: Sequence[str],
                 partial_fpn: bool = False) -> CheckReport:
    """Compare an mmdet export with a detector's state dict (shapes).

    Args:
        export (dict): Exported tensors.
        detector (dict): The detector's ``state_dict()`` (or key->shape).
        groups (Sequence[str]): Exported groups (``backbone``, ``neck``,
            ``roi_head.bbox_head``, ``roi_head.shared_head``).
        partial_fpn (bool): The neck came from CrossCL's PartialFPN: only
            the exported neck keys are required.

    Returns:
        CheckReport
    """

    def shape(v) -> tuple:
        return tuple(v.shape) if hasattr(v, 'shape') else tuple(v)

    num_laterals = len({
        m.group(1)
        for k in detector
        for m in [re.match(r'neck\.lateral_convs\.(\d+)\.', k)] if m
    })
    partial_keys = {k for k in export if k.startswith('neck.')
                    } if partial_fpn else None
    missing = [
        k for k in detector if k not in export
        and _required(k, groups, num_laterals, partial_keys)
    ]
    mismatched = [
        f'{k}: export {shape(export[k])} vs detector {shape(detector[k])}'
        for k in export if k in detector
        and shape(export[k]) != shape(detector[k])
    ]
    unexpected = [k for k in export if k not in detector]
    fresh: Dict[str, int] = OrderedDict()
    for k in detector:
        if k not in export and not k.endswith('num_batches_tracked'):
            fresh[_group_of(k)] = fresh.get(_group_of(k), 0) + 1
    hints = []
    if any(k.startswith('backbone.layer4.') for k in unexpected) and any(
            k.startswith('roi_head.shared_head.layer4.') for k in detector):
        hints.append('the detector is a C4 detector: export with --c4')
    if any(k.startswith('roi_head.shared_head.') for k in unexpected) and \
            any(k.startswith('backbone.layer4.') for k in detector):
        hints.append('the detector is not a C4 detector: export without --c4')
    if any(k.startswith('backbone.') for k in missing) and any(
            k.startswith('backbone.') for k in unexpected):
        hints.append('backbone key names differ: is the detector backbone '
                     'a ResNet of the same type (not ResNetV1c/d, deep stem)?')
    if mismatched:
        hints.append('shapes differ: the detector has another depth/width '
                     'than the pretrained network (set the detector '
                     'backbone depth/stem_channels/base_channels, FPN '
                     'in/out channels and head widths to the pretraining '
                     "model's)")
    if any(k.startswith('roi_head.bbox_head.') for k in missing + unexpected):
        hints.append('the box head is not the pretrained 4conv1fc trunk '
                     '(e.g. a 2fc head): export without --with-head or use '
                     'Shared4Conv1FCBBoxHead with the pretraining widths')
    return CheckReport(missing, mismatched, unexpected, fresh, hints)


def build_detector_state(config: str) -> Dict[str, Tensor]:
    """Build the model of an mmdet config (no weights loaded) and return its
    state dict.

    Raises:
        FileNotFoundError: The config does not exist.
    """
    from mmalfm.utils.mim import resolve_config  # 'mmalfm::...' -> file
    config = resolve_config(config)
    if not osp.isfile(config):
        raise FileNotFoundError(f'--check: detector config not found: '
                                f'{config}')
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.utils import import_modules_from_strings
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmdet.utils import register_all_modules as mmdet_register
    cfg = Config.fromfile(config)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg['custom_imports'])
    mmdet_register(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope',
                                                      'mmdet')):
        model = MMDET_MODELS.build(cfg.model)
    return model.state_dict()


def check_against_detector(result: ExportResult, config: str
                           ) -> CheckReport:
    """:func:`check_export` of an :class:`ExportResult` against the model of
    an mmdet config."""
    detector = build_detector_state(config)
    return check_export(
        result.state_dict, detector, list(result.groups),
        partial_fpn=bool(result.fpn.get('partial')))


def partial_fpn_target(detector: Dict[str, Tensor]) -> Tuple[int, bool]:
    """CrossCL: the detector FPN's ``lateral_convs`` index that takes C3
    (``layer2``) and whether its convs have a bias (no norm).

    Args:
        detector (dict): The detector's state dict.

    Returns:
        tuple: ``(c3_index, bias)``; ``(1, False)`` when the detector has no
        FPN over ``layer2``.
    """
    stages = resnet_layout(_strip(detector, 'backbone.'))['stage_channels']
    c3_index = 1
    for key, w in detector.items():
        m = re.match(r'neck\.lateral_convs\.(\d+)\.conv\.weight$', key)
        if m and len(stages) > 1 and int(w.shape[1]) == stages[1]:
            c3_index = int(m.group(1))
            break
    return c3_index, f'neck.lateral_convs.{c3_index}.conv.bias' in detector


# ------------------------------------------------------------------ save
def _provenance(meta: dict) -> dict:
    return {
        k: meta[k]
        for k in ('epoch', 'iter', 'time', 'experiment_name', 'seed',
                  'mmengine_version') if k in meta
    }


def save_mmdet_export(result: ExportResult, out: str, source: str,
                      meta: dict, options: dict) -> None:
    """``torch.save({'state_dict', 'meta'})`` loadable with
    ``weights_only=True`` (plain types in ``meta``)."""
    d = osp.dirname(osp.abspath(out))
    if d:
        import os
        os.makedirs(d, exist_ok=True)
    torch.save(
        dict(
            state_dict=result.state_dict,
            meta=dict(
                mmalfm_export=dict(
                    version=EXPORT_VERSION,
                    target='mmdet',
                    groups=list(result.groups),
                    **options),
                source=str(source),
                method=result.method,
                pretrain=_provenance(meta),
                pretrain_cfg=meta.get('cfg', ''))), out)


# ------------------------------------------------------------ detectron2
_D2_RES = re.compile(r'^(?:backbone|roi_head\.shared_head)\.layer(\d)\.(.*)$')


def _d2_block(rest: str) -> str:
    """``Y.convK.w`` / ``Y.bnK.w`` / ``Y.downsample.{0,1}.w`` -> d2."""
    rest = re.sub(r'^(\d+)\.bn(\d)\.', r'\1.conv\2.norm.', rest)
    rest = re.sub(r'^(\d+)\.downsample\.0\.', r'\1.shortcut.', rest)
    rest = re.sub(r'^(\d+)\.downsample\.1\.', r'\1.shortcut.norm.', rest)
    return rest


def mmdet_to_detectron2(export: Dict[str, Tensor],
                        fpn_level_offset: int = 2) -> 'OrderedDict':
    """Rename an mmdet export to detectron2 names.

    * ResNet (names portable between d2 FPN ``backbone.bottom_up.*`` and C4
      ``backbone.*`` / ``roi_heads.res5.*`` through matching heuristics):
      ``conv1`` -> ``stem.conv1``, ``bn1`` -> ``stem.conv1.norm``,
      ``layerX`` (or C4 ``roi_head.shared_head.layer4``) -> ``res{X+1}``,
      ``bnK`` -> ``convK.norm``, ``downsample.0/1`` -> ``shortcut(.norm)``.
    * FPN: ``neck.lateral_convs.i.conv/bn`` ->
      ``backbone.fpn_lateral{i+offset}(.norm)``, ``fpn_convs`` ->
      ``backbone.fpn_output{l}``.
    * Box head: ``roi_head.bbox_head.shared_convs.i.conv/bn`` ->
      ``roi_heads.box_head.conv{i+1}(.norm)``, ``shared_fcs.j`` ->
      ``roi_heads.box_head.fc{j+1}``.

    ``num_batches_tracked`` counters are dropped (detectron2's BN layers do
    not use them; its own checkpoints do not carry them).

    Args:
        export (dict): mmdet-named tensors.
        fpn_level_offset (int): detectron2 level of ``lateral_convs.0``
            (2 for an FPN over C2-C5 with ``start_level=0``).

    Raises:
        ExportError: A key outside these groups.
    """
    out: 'OrderedDict[str, Tensor]' = OrderedDict()
    for key, value in export.items():
        if key.endswith('num_batches_tracked'):
            continue
        if key.startswith('backbone.conv1.'):
            new = 'stem.conv1.' + key[len('backbone.conv1.'):]
        elif key.startswith('backbone.bn1.'):
            new = 'stem.conv1.norm.' + key[len('backbone.bn1.'):]
        elif _D2_RES.match(key):
            stage, rest = _D2_RES.match(key).groups()
            new = f'res{int(stage) + 1}.' + _d2_block(rest)
        elif re.match(r'neck\.(lateral|fpn)_convs\.\d+\.(conv|bn)\.', key):
            m = re.match(r'neck\.(lateral|fpn)_convs\.(\d+)\.(conv|bn)\.(.*)',
                         key)
            kind, i, part, p = m.groups()
            name = 'fpn_lateral' if kind == 'lateral' else 'fpn_output'
            norm = '.norm' if part == 'bn' else ''
            new = f'backbone.{name}{int(i) + fpn_level_offset}{norm}.{p}'
        elif re.match(r'roi_head\.bbox_head\.shared_convs\.\d+\.', key):
            m = re.match(
                r'roi_head\.bbox_head\.shared_convs\.(\d+)\.(conv|bn)\.(.*)',
                key)
            i, part, p = m.groups()
            norm = '.norm' if part == 'bn' else ''
            new = f'roi_heads.box_head.conv{int(i) + 1}{norm}.{p}'
        elif re.match(r'roi_head\.bbox_head\.shared_fcs\.\d+\.', key):
            m = re.match(r'roi_head\.bbox_head\.shared_fcs\.(\d+)\.(.*)', key)
            new = f'roi_heads.box_head.fc{int(m.group(1)) + 1}.{m.group(2)}'
        else:
            raise ExportError(f'no detectron2 name for export key {key!r}')
        out[new] = value
    return out


def detectron2_to_mmdet(model: Dict[str, Any],
                        fpn_level_offset: int = 2,
                        c4: bool = False) -> 'OrderedDict':
    """Inverse of :func:`mmdet_to_detectron2` (arrays become tensors).

    Args:
        model (dict): detectron2-named arrays/tensors.
        fpn_level_offset (int): As in :func:`mmdet_to_detectron2`.
        c4 (bool): ``res5`` -> ``roi_head.shared_head.layer4`` (else
            ``backbone.layer4``).
    """
    out: 'OrderedDict[str, Tensor]' = OrderedDict()
    for key, value in model.items():
        t = torch.as_tensor(value)
        if key.startswith('stem.conv1.norm.'):
            new = 'backbone.bn1.' + key[len('stem.conv1.norm.'):]
        elif key.startswith('stem.conv1.'):
            new = 'backbone.conv1.' + key[len('stem.conv1.'):]
        elif re.match(r'res\d\.', key):
            stage, rest = int(key[3]) - 1, key[5:]
            rest = re.sub(r'^(\d+)\.conv(\d)\.norm\.', r'\1.bn\2.', rest)
            rest = re.sub(r'^(\d+)\.shortcut\.norm\.', r'\1.downsample.1.',
                          rest)
            rest = re.sub(r'^(\d+)\.shortcut\.', r'\1.downsample.0.', rest)
            prefix = 'roi_head.shared_head' if (c4 and stage == 4) \
                else 'backbone'
            new = f'{prefix}.layer{stage}.{rest}'
        elif re.match(r'backbone\.fpn_(lateral|output)\d', key):
            m = re.match(r'backbone\.fpn_(lateral|output)(\d)(\.norm)?\.(.*)',
                         key)
            kind, lvl, norm, p = m.groups()
            name = 'lateral_convs' if kind == 'lateral' else 'fpn_convs'
            part = 'bn' if norm else 'conv'
            new = f'neck.{name}.{int(lvl) - fpn_level_offset}.{part}.{p}'
        elif re.match(r'roi_heads\.box_head\.conv\d', key):
            m = re.match(r'roi_heads\.box_head\.conv(\d+)(\.norm)?\.(.*)', key)
            i, norm, p = m.groups()
            part = 'bn' if norm else 'conv'
            new = f'roi_head.bbox_head.shared_convs.{int(i) - 1}.{part}.{p}'
        elif re.match(r'roi_heads\.box_head\.fc\d', key):
            m = re.match(r'roi_heads\.box_head\.fc(\d+)\.(.*)', key)
            new = f'roi_head.bbox_head.shared_fcs.{int(m.group(1)) - 1}.' \
                  f'{m.group(2)}'
        else:
            raise ExportError(f'unknown detectron2 key {key!r}')
        out[new] = t
    return out


def export_detectron2(result: ExportResult) -> 'OrderedDict':
    """detectron2-named tensors of an mmdet :class:`ExportResult`."""
    return mmdet_to_detectron2(result.state_dict,
                               result.fpn.get('level_offset', 2))


def save_detectron2_export(model: Dict[str, Tensor], out: str,
                           info: dict) -> None:
    """Write a detectron2 checkpoint.

    ``.pkl``: a pickled dict of NumPy arrays (detectron2's model-zoo format,
    as the released SoCo converters wrote; read with ``pickle`` by
    ``DetectionCheckpointer``, which needs ``model`` and ``__author__`` and
    honours ``matching_heuristics``). Other suffixes: ``torch.save`` of
    tensors (detectron2 then always applies matching heuristics).
    """
    import os
    d = osp.dirname(osp.abspath(out))
    os.makedirs(d, exist_ok=True)
    payload = {
        '__author__': f'mmalfm export_to_detectron2 ({info.get("method")})',
        'matching_heuristics': True,
        'mmalfm_export': dict(info, version=EXPORT_VERSION,
                              target='detectron2'),
    }
    if out.endswith('.pkl'):
        payload['model'] = OrderedDict(
            (k, v.detach().cpu().numpy()) for k, v in model.items())
        with open(out, 'wb') as f:
            pickle.dump(payload, f, protocol=4)
    else:
        payload['model'] = OrderedDict(
            (k, v.detach().cpu().clone()) for k, v in model.items())
        torch.save(payload, out)


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays only (mmalfm's
    allow-list, as :func:`safe_load`)."""

    def find_class(self, module: str, name: str) -> Any:
        global _ALLOWED_PICKLE
        if _ALLOWED_PICKLE is None:
            allowed = {}
            for item in safe_checkpoint_globals():
                obj, full = item if isinstance(item, tuple) else (
                    item, f'{item.__module__}.{item.__qualname__}')
                allowed[full] = obj
            allowed['collections.OrderedDict'] = OrderedDict
            _ALLOWED_PICKLE = allowed
        full = f'{module}.{name}'
        if full not in _ALLOWED_PICKLE:
            raise pickle.UnpicklingError(
                f'refusing to unpickle {full} (not an array/container)')
        return _ALLOWED_PICKLE[full]


def load_detectron2_export(path: str) -> dict:
    """Read a detectron2 export (``.pkl`` safely; else ``torch.load`` with
    ``weights_only=True``)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} can not be found.')
    if path.endswith('.pkl'):
        with open(path, 'rb') as f:
            return _SafeUnpickler(f, encoding='latin1').load()
    return safe_load(path, map_location='cpu')


# --------------------------------------------------------------- summary
def _numel(state: Dict[str, Tensor], keys: Sequence[str]) -> int:
    return sum(int(state[k].numel()) for k in keys)


def format_summary(result: ExportResult, target: str = 'mmdet') -> str:
    """Human-readable summary: written groups (tensors/values), dropped
    groups (tensors, reason), notes."""
    lines = [f'method: {result.method} (from {result.detected_by})',
             f'written ({target} layout):']
    total = 0
    for group, keys in result.groups.items():
        n = _numel(result.state_dict, keys)
        total += n
        lines.append(f'  {group:<28} {len(keys):>6} tensors '
                     f'{n:>14,} values')
    lines.append(f'  {"total":<28} {len(result.state_dict):>6} tensors '
                 f'{total:>14,} values')
    lines.append('dropped:')
    for group, (count, why) in result.dropped.items():
        lines.append(f'  {group:<28} {count:>6} tensors'
                     + (f'  ({why})' if why else ''))
    if not result.dropped:
        lines.append('  nothing')
    for note in result.notes:
        lines.append(f'note: {note}')
    return '\n'.join(lines)
