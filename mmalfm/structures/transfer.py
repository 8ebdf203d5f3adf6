# Copyright (c) mmalfm contributors. All rights reserved.
"""What a pretraining method transfers to a detector: its declaration.

Every pretraining algorithm declares, next to its code, which of its online
modules a detector can reuse and why everything else is left behind::

    @MODELS.register_module()
    class MyMethod(RegionSelfSupervisor):
        \"\"\"...\"\"\"

        transfer = TransferSpec(
            name='mymethod', neck='fpn', box_head=True,
            default='backbone+fpn+bbox_head',
            drops=dict(projector='projector MLP'),
            export_flags=('--with-neck', '--with-head'))

Classes another package owns (MMPretrain's ``BYOL``...) are declared with
:func:`declare_transfer` (see ``mmalfm/models/algorithms/upstream.py``).
:func:`find_transfer_spec` finds the declaration of a config's model
``type`` through the ``MODELS`` registries (``mmalfm``, then
``mmpretrain``); :func:`transfer_specs` lists every declaration. The
exporter (:mod:`mmalfm.apis.export`), ``PretrainedExport`` and the demo read
nothing else about a method (docs/user_guides/transfer.md).

This module is a bottom layer: it imports no models, datasets or engine
code (the registries are looked up lazily, by name).
"""
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Dict, List, Mapping, Optional, Tuple

__all__ = [
    'TransferSpec', 'TransferDeclarationError', 'COMMON_DROPS',
    'DETECTOR_GROUPS', 'declare_transfer', 'find_transfer_spec',
    'transfer_specs', 'training_only_groups'
]

#: Why a top-level group that every region algorithm may hold is dropped
#: (``RegionSelfSupervisor``: EMA target, data preprocessor, RoI head parts).
COMMON_DROPS: Mapping[str, str] = MappingProxyType({
    'target_net': 'EMA target network',
    'data_preprocessor': 'data preprocessor buffers',
    'loss_module': 'loss module (queues / prototypes / centers)',
    'roi_head': 'RoI head parts the method does not transfer',
    'heads': 'pretraining heads (projectors, predictors, prototypes, loss '
    'state)',
})

#: Top-level groups a detector has too: never "training only".
DETECTOR_GROUPS = ('backbone', 'neck', 'roi_head', 'rpn_head')

#: The class attribute holding a declaration.
ATTRIBUTE = 'transfer'


class TransferDeclarationError(LookupError):
    """A model type has no transfer declaration (message: how to add one)."""

    def __str__(self) -> str:  # LookupError would repr() the message.
        return str(self.args[0])


@dataclass(frozen=True)
class TransferSpec:
    """What a pretraining method can export to a detector.

    Attributes:
        name (str): The method's name (``--method`` of the export tools,
            ``--methods`` of the demo, ``configs/<name>/``).
        neck (str | None): ``'fpn'`` (mmdet ``FPN`` under ``neck.``),
            ``'partial_fpn'`` (CrossCL ``PartialFPN``) or None (the method's
            ``neck`` is no detection neck, e.g. BYOL's projector).
        box_head (bool): Has ``roi_head.bbox_head`` (4conv1fc trunk).
        default (str): The released export profile (docs and summary).
        ema_prefixes (tuple[str]): Top-level key prefixes of its target
            (momentum) network.
        drops (Mapping[str, str]): ``{top-level group: why it is dropped}``
            for the method's own groups; :data:`COMMON_DROPS` covers the
            rest.
        export_flags (tuple[str]): ``export_to_mmdet.py`` flags of the
            profile the demo detector (backbone + FPN + 4conv1fc box head)
            fine-tunes from, e.g. ``('--with-neck', '--with-head')``.
        key_signature (str, optional): A state-dict key prefix only this
            method's checkpoints have: recognises a checkpoint without a
            stored config.
    """
    name: str
    neck: Optional[str] = None
    box_head: bool = False
    default: str = 'backbone'
    ema_prefixes: Tuple[str, ...] = ('target_net.', )
    drops: Mapping[str, str] = field(default_factory=dict)
    export_flags: Tuple[str, ...] = ()
    key_signature: Optional[str] = None

    def __post_init__(self) -> None:
        if self.neck not in (None, 'fpn', 'partial_fpn'):
            raise ValueError(f'TransferSpec({self.name!r}): neck must be '
                             f"'fpn', 'partial_fpn' or None, got "
                             f'{self.neck!r}')
        if self.box_head and self.neck is None:
            raise ValueError(f'TransferSpec({self.name!r}): a box head is '
                             'exported with its FPN; set neck too')
        object.__setattr__(self, 'drops', MappingProxyType(dict(self.drops)))
        object.__setattr__(self, 'ema_prefixes', tuple(self.ema_prefixes))
        object.__setattr__(self, 'export_flags', tuple(self.export_flags))

    def drop_reason(self, group: str) -> str:
        """Why the top-level ``group`` is not exported ('' if unknown)."""
        return self.drops.get(group) or COMMON_DROPS.get(group, '')


#: Declarations of classes another package owns: ``{class: spec}``.
_DECLARED: Dict[type, TransferSpec] = {}
#: Model type names no registry holds, declared as another class's alias.
_ALIASES: Dict[str, type] = {}


def declare_transfer(cls: type,
                     spec: TransferSpec,
                     aliases: Tuple[str, ...] = ()) -> None:
    """Declare what a class another package owns transfers.

    Args:
        cls (type): The registered model class (e.g. MMPretrain's ``BYOL``).
        spec (TransferSpec): Its declaration.
        aliases (tuple[str]): Other model ``type`` names meaning ``cls``.

    Raises:
        ValueError: Another method already uses ``spec.name``.
    """
    for other_cls, other in _all_declared():
        if other.name == spec.name and other_cls is not cls \
                and other is not spec:
            raise ValueError(
                f'transfer declaration {spec.name!r} of {cls.__name__} '
                f'clashes with the one of {other_cls.__name__}')
    _DECLARED[cls] = spec
    for alias in aliases:
        _ALIASES[alias] = cls


def _registries() -> List[object]:
    """``MODELS`` of mmalfm, then of MMPretrain (imported lazily)."""
    from mmalfm.registry import MODELS
    return [MODELS, MODELS.parent]


def _declaration(cls: type) -> Optional[TransferSpec]:
    spec = getattr(cls, ATTRIBUTE, None)
    if isinstance(spec, TransferSpec):
        return spec
    return _DECLARED.get(cls)


def _all_declared() -> List[Tuple[type, TransferSpec]]:
    found = list(_DECLARED.items())
    for registry in _registries():
        for cls in registry.module_dict.values():
            spec = getattr(cls, ATTRIBUTE, None)
            if isinstance(spec, TransferSpec):
                found.append((cls, spec))
    return found


def _lookup_class(model_type: str) -> Optional[type]:
    """The class of ``model_type`` (``'SoCo'``, ``'mmalfm.SoCo'``,
    ``'mmpretrain.BYOL'``) in the registries, or None."""
    registries = _registries()
    scope, _, name = model_type.rpartition('.')
    if scope:
        registries = [r for r in registries if r.scope == scope]
    for registry in registries:
        registry.import_from_location()
        cls = registry.module_dict.get(name)
        if cls is not None:
            return cls
    return _ALIASES.get(name)


def find_transfer_spec(model_type) -> TransferSpec:
    """The declaration of a config's model ``type``.

    Args:
        model_type (str | type): A registered name with or without scope
            (``'SoCo'``, ``'mmalfm.SoCo'``, ``'mmpretrain.BYOL'``) or the
            class itself.

    Returns:
        TransferSpec

    Raises:
        TransferDeclarationError: Not registered, or registered without a
            declaration (the message says how to declare one).
    """
    cls = model_type if isinstance(model_type, type) else \
        _lookup_class(str(model_type))
    if cls is None:
        raise TransferDeclarationError(
            f'model type {model_type!r} is in neither the mmalfm nor the '
            'mmpretrain MODELS registry: import the package that registers '
            "it (custom_imports) or fix the config's model.type.")
    _registries()[0].import_from_location()  # upstream declarations
    spec = _declaration(cls)
    if spec is None:
        raise TransferDeclarationError(
            f'model type {model_type!r} ({cls.__module__}.{cls.__name__}) '
            'declares nothing to transfer. Declare it with a class '
            f'attribute `{ATTRIBUTE} = TransferSpec(name=..., neck=..., '
            'box_head=..., drops=...)` (mmalfm.structures.transfer; see '
            'mmalfm/models/algorithms/soco.py), or, for a class another '
            'package owns, with declare_transfer(cls, spec) as in '
            'mmalfm/models/algorithms/upstream.py.')
    return spec


def transfer_specs() -> Dict[str, TransferSpec]:
    """Every declared method: ``{name: spec}``, mmalfm's algorithms first
    (registration order), then the other packages' classes."""
    _registries()[0].import_from_location()
    out: Dict[str, TransferSpec] = {}
    ours = [spec for cls, spec in _all_declared() if cls not in _DECLARED]
    for spec in ours + list(_DECLARED.values()):
        out.setdefault(spec.name, spec)
    return out


def training_only_groups() -> Tuple[str, ...]:
    """Top-level groups only pretraining checkpoints hold (target networks,
    projectors, queues...: every declared drop and EMA prefix that is no
    detector part), sorted."""
    groups = set(COMMON_DROPS)
    for spec in transfer_specs().values():
        groups.update(spec.drops)
        groups.update(p.split('.', 1)[0] for p in spec.ema_prefixes)
    return tuple(sorted(groups - set(DETECTOR_GROUPS)))
