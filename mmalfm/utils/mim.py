# Copyright (c) mmalfm contributors. All rights reserved.
"""``mmalfm::`` config paths, as ``mmdet::`` and ``mmpretrain::`` are.

An installed mmalfm carries the repository's ``configs/``, ``tools/`` and
``model-index.yml`` in ``mmalfm/.mim/`` (copied into a wheel, linked in an
editable install: see ``setup.py``), where OpenMMLab's ``mim`` looks for them.
After ``import mmalfm``:

* ``_base_ = 'mmalfm::alfm/alfm_resnet18q-fpn_1xb8-coslr-10e_demo.py'``
  in any config (MMEngine 0.10 resolves ``pkg::`` only for the OpenMMLab
  packages it lists, and for an editable install it looks in the wrong
  folder);
* ``Config.fromfile('mmalfm::alfm/....py')`` (MMEngine resolves ``pkg::`` in
  ``_base_`` only), hence the config argument of every tool that loads its
  config with ``Config.fromfile`` after ``import mmalfm``: ``tools/train.py``,
  ``tools/test.py``, ``tools/analysis/benchmark.py``, ``mim train mmalfm``;
* ``mmengine.hub.get_config('mmalfm::...')`` for a (non-editable) install.

:func:`register_mim_package`, run when ``import mmalfm`` imports this
module, registers the package name with MMEngine and wraps
``Config._get_cfg_path`` (where a ``_base_`` is looked up) and
``Config.fromfile``: only ``mmalfm::`` paths, and for ``fromfile`` a
``pkg::`` path that is no file, are handled; everything else goes to MMEngine
unchanged. Nothing installed is modified.

An ``mmalfm::`` base is merged as a relative ``_base_`` path would be: MMEngine
would add ``_scope_='mmalfm'`` to each of its components, which breaks a
``collate_fn`` (``default_collate() got an unexpected keyword argument
'_scope_'``); our configs set ``default_scope = 'mmalfm'``, and a config of
another scope names our modules ``type='mmalfm.<Name>'``.

MMEngine reads a config's ``_base_`` before anything in the config runs (also
before its ``custom_imports``), so a config inheriting ``mmalfm::`` needs
``import mmalfm`` in the process first: our tools and ``mim train/test
mmalfm`` do that; a script of one's own does ``import mmalfm`` before
``Config.fromfile``.
"""
import functools
import os
import os.path as osp
from typing import Optional, Tuple, Union

PACKAGE = 'mmalfm'
PREFIX = PACKAGE + '::'
#: The directory of the imported ``mmalfm`` package.
PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))

_MARK = '__mmalfm_mim__'


def mim_dir() -> str:
    """``<mmalfm>/.mim``: configs/, tools/ and model-index.yml of the
    installed package."""
    return osp.join(PACKAGE_DIR, '.mim')


def config_root() -> str:
    """Where ``mmalfm::`` configs live: ``<mmalfm>/.mim/configs``, or the
    ``configs/`` of the source tree when the package is used from a
    checkout that was never installed (``PYTHONPATH``)."""
    installed = osp.join(mim_dir(), 'configs')
    if osp.isdir(installed):
        return installed
    checkout = osp.join(osp.dirname(PACKAGE_DIR), 'configs')
    if osp.isfile(osp.join(osp.dirname(PACKAGE_DIR), 'model-index.yml')) \
            and osp.isdir(checkout):
        return checkout
    return installed


def resolve_config(path: Union[str, os.PathLike]) -> str:
    """The file behind a config argument.

    ``'mmalfm::DIR/NAME.py'`` (``.py`` may be left out) becomes the absolute
    path under :func:`config_root`; another ``'pkg::...'`` that is no file
    goes through MMEngine's own ``pkg::`` lookup (``mmdet::``,
    ``mmpretrain::``...); anything else is returned as it is.

    Raises:
        FileNotFoundError: An ``mmalfm::`` path names no config.
    """
    if not isinstance(path, str) or '::' not in path or osp.exists(path):
        return path
    if path.startswith(PREFIX):
        return _resolve_own(path)
    from mmengine.config import Config
    return Config._get_cfg_path(path, '')[0]


def _resolve_own(path: str) -> str:
    rel = path[len(PREFIX):].lstrip('/')
    root = config_root()
    full = osp.normpath(osp.join(root, rel))
    if not osp.isfile(full) and not osp.splitext(rel)[1] \
            and osp.isfile(full + '.py'):
        full += '.py'
    if not rel or not osp.isfile(full):
        raise FileNotFoundError(
            f'{path}: no such config in {root} (the configs of the installed '
            f'mmalfm; `mim search mmalfm` lists its models)')
    return full


def _wrap_get_cfg_path(original):

    @functools.wraps(original)
    def _get_cfg_path(cfg_path: str,
                      filename: str) -> Tuple[str, Optional[str]]:
        if isinstance(cfg_path, str) and cfg_path.startswith(PREFIX):
            # No scope: see the module docstring.
            return _resolve_own(cfg_path), None
        return original(cfg_path, filename)

    setattr(_get_cfg_path, _MARK, True)
    return staticmethod(_get_cfg_path)


def _wrap_fromfile(original):

    @functools.wraps(original)
    def fromfile(filename, *args, **kwargs):
        return original(resolve_config(filename), *args, **kwargs)

    setattr(fromfile, _MARK, True)
    return staticmethod(fromfile)


def register_mim_package() -> None:
    """Make ``mmalfm::`` paths work in this process (idempotent)."""
    from mmengine.config import Config
    from mmengine.config import utils as config_utils

    # `MODULE2PACKAGE` is `PKG2PROJECT` (the same dict): module -> pip name.
    config_utils.MODULE2PACKAGE.setdefault(PACKAGE, PACKAGE)
    if not getattr(Config._get_cfg_path, _MARK, False):
        Config._get_cfg_path = _wrap_get_cfg_path(Config._get_cfg_path)
    if not getattr(Config.fromfile, _MARK, False):
        Config.fromfile = _wrap_fromfile(Config.fromfile)


register_mim_package()
