# Copyright (c) mmalfm contributors. All rights reserved.
"""A pretraining method by name or by config: its demo config, whether it
needs proposals, what it exports (``tools/demo/run_demo.py``).

Nothing here lists methods: a method is an algorithm class with a transfer
declaration (:mod:`mmalfm.structures.transfer`) and a config folder
``configs/<name>/`` whose ``metafile.yml`` marks its demo config::

    Models:
      - Name: alfm_resnet18q-fpn_1xb8-coslr-10e_demo
        Metadata:
          Demo: true
        Config: configs/alfm/alfm_resnet18q-fpn_1xb8-coslr-10e_demo.py

(see docs/user_guides/demo.md and docs/user_guides/transfer.md).
"""
import os.path as osp
from functools import lru_cache
from typing import Any, Dict, Iterator, List, Optional, Tuple

from mmalfm.structures.transfer import (TransferDeclarationError,
                                        TransferSpec, find_transfer_spec,
                                        transfer_specs)

__all__ = [
    'MethodConfigError', 'DEMO_MARKER', 'demo_config', 'demo_methods',
    'method_of_config', 'resolve_method', 'needs_proposals',
    'config_needs_proposals'
]

#: The ``Metadata`` key marking a metafile entry as the demo config.
DEMO_MARKER = 'Demo'


class MethodConfigError(ValueError):
    """A method or config cannot be resolved (the message says the fix)."""


def _metafile(root: str, name: str) -> str:
    return osp.join(root, 'configs', name, 'metafile.yml')


def demo_config(name: str, root: str) -> str:
    """The demo pretraining config of method ``name``.

    Args:
        name (str): The method (its declared ``TransferSpec.name``).
        root (str): The folder holding ``configs/``.

    Returns:
        str: The config, relative to ``root``
        (``configs/<name>/<file>.py``).

    Raises:
        MethodConfigError: No metafile, no or several entries marked
            ``Demo: true``, or the marked config does not exist.
    """
    from mmengine.fileio import load
    path = _metafile(root, name)
    rel = osp.relpath(path, root)
    how = (f'mark the demo config\'s entry in {rel} with `Metadata: '
           f'{{{DEMO_MARKER}: true}}` (docs/user_guides/demo.md)')
    if not osp.isfile(path):
        raise MethodConfigError(
            f'missing piece: {name} has no {rel} naming its demo config: '
            f'add configs/{name}/ with a demo config and {how}.')
    marked = [
        model['Config'] for model in (load(path) or {}).get('Models') or []
        if (model.get('Metadata') or {}).get(DEMO_MARKER) is True
    ]
    if len(marked) != 1:
        raise MethodConfigError(
            f'{rel}: {len(marked)} entries are marked as the demo config '
            f'{marked or ""}; {how} (exactly one).')
    if not osp.isfile(osp.join(root, marked[0])):
        raise MethodConfigError(f'{rel}: the demo config {marked[0]} does '
                                'not exist; fix its `Config:` entry.')
    return marked[0]


def demo_methods(root: str) -> List[str]:
    """Every declared method with a demo config under ``root``, in
    declaration order."""
    out = []
    for name in transfer_specs():
        try:
            demo_config(name, root)
        except MethodConfigError:
            continue
        out.append(name)
    return out


@lru_cache(maxsize=None)
def _load(path: str):
    from mmengine.config import Config
    return Config.fromfile(path)


def method_of_config(config: str) -> TransferSpec:
    """The transfer declaration of a pretraining config's ``model.type``.

    Raises:
        MethodConfigError: The config has no model, or its model type
            declares nothing to transfer.
    """
    model = _load(osp.abspath(config)).get('model')
    if not isinstance(model, dict) or 'type' not in model:
        raise MethodConfigError(f'{config} has no `model.type`: pass a '
                                'pretraining config.')
    try:
        return find_transfer_spec(model['type'])
    except TransferDeclarationError as err:
        raise MethodConfigError(f'{config}: {err}') from err


def resolve_method(arg: str, root: str) -> Tuple[str, str]:
    """A method given by name (``alfm``) or by config path.

    Args:
        arg (str): A declared method name, or a ``.py`` config (absolute,
            relative to the working directory or to ``root``).
        root (str): The folder holding ``configs/``.

    Returns:
        tuple: ``(name, config)``; the config relative to ``root`` when it
        lies under it.

    Raises:
        MethodConfigError: Unknown name or file, or no demo config.
    """
    if arg.endswith('.py'):
        path = next((p for p in (arg, osp.join(root, arg)) if osp.isfile(p)),
                    None)
        if path is None:
            raise MethodConfigError(f'--methods {arg}: no such config.')
        path = osp.abspath(path)
        rel = osp.relpath(path, root)
        config = path if rel.startswith('..') else rel
        return method_of_config(path).name, config
    known = transfer_specs()
    if arg not in known:
        raise MethodConfigError(
            f'--methods {arg}: not a declared method ({", ".join(known)}) '
            'and not a .py config.')
    return arg, demo_config(arg, root)


def _typed_nodes(node: Any, key: Optional[str] = None
                 ) -> Iterator[Tuple[Optional[str], dict]]:
    """``(parent key, dict)`` for every dict with a ``type`` under
    ``node``."""
    if isinstance(node, dict):
        if 'type' in node:
            yield key, node
        for k, v in node.items():
            yield from _typed_nodes(v, k)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _typed_nodes(v, key)


def _class_of(type_name: Any, registries: List[Any]) -> Optional[type]:
    if isinstance(type_name, type):
        return type_name
    for registry in registries:
        try:
            cls = registry.get(type_name)
        except KeyError:  # another scope that is not installed
            cls = None
        if cls is not None:
            return cls
    return None


def config_needs_proposals(cfg: Dict) -> bool:
    """Whether a pretraining config trains on proposals: its training data
    set is (or wraps) a ``ProposalDataset``, or its region sampler needs
    them (``needs_proposals``, read from the built sampler).

    Args:
        cfg (Config | dict): A loaded config. Its types are looked up in the
            config's ``default_scope`` (``mmalfm`` without one), whatever
            scope an earlier run left current.
    """
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope') or 'mmalfm'):
        return _needs_proposals(cfg)


def _needs_proposals(cfg: Dict) -> bool:
    import mmalfm.datasets  # noqa: F401  (registers the data sets)
    from mmalfm.datasets import ProposalDataset
    from mmalfm.registry import DATASETS, TASK_UTILS, TRANSFORMS
    loader = cfg.get('train_dataloader') or {}
    for key, node in _typed_nodes(loader.get('dataset') or {}):
        cls = _class_of(node['type'], [DATASETS, TRANSFORMS, TASK_UTILS])
        if cls is None:
            continue
        if isinstance(cls, type) and issubclass(cls, ProposalDataset):
            return True
        if key == 'region_sampler':
            if getattr(TASK_UTILS.build(dict(node)), 'needs_proposals',
                       False):
                return True
        elif getattr(cls, 'needs_proposals', False) is True:
            return True
    return False


def needs_proposals(config: str) -> bool:
    """:func:`config_needs_proposals` of a config file."""
    return config_needs_proposals(_load(osp.abspath(config)))
