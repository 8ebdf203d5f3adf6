# Copyright (c) mmalfm contributors. All rights reserved.
"""Build hook: the ``mmalfm/.mim`` folder of OpenMMLab's ``mim``.

The metadata lives in ``pyproject.toml``; this file only adds the step that
OpenMMLab packages (MMDetection, MMPretrain) perform in their ``setup.py``
(``add_mim_extension``): the installed package carries the repository's
``configs/``, ``tools/`` and ``model-index.yml`` under ``mmalfm/.mim/``, where
``mim train/test/search`` and ``_base_ = 'mmalfm::...'`` look for them.

* a wheel (``pip install .``, ``uv build``, ``pip wheel``, also a wheel built
  from the sdist, which carries the three through ``MANIFEST.in``): they are
  *copied* into the wheel's ``mmalfm/.mim``; the source tree is not touched;
* an editable install (``pip install -e .``, ``uv sync`` / ``make setup``):
  ``mmalfm/.mim/{configs,tools,model-index.yml}`` become *relative symbolic
  links* to the repository's own, so edits show at once (``mmalfm/.mim`` is
  in ``.gitignore``).
"""
import os
import os.path as osp
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = osp.dirname(osp.abspath(__file__))
PACKAGE = 'mmalfm'
#: What ``mmalfm/.mim`` holds, by name at the repository root.
MIM_ENTRIES = ('configs', 'tools', 'model-index.yml')
_IGNORE = shutil.ignore_patterns('__pycache__', '*.py[cod]', '.*')


def _remove(path: str) -> None:
    if osp.islink(path) or osp.isfile(path):
        os.remove(path)
    elif osp.isdir(path):
        shutil.rmtree(path)


def _sources() -> list:
    missing = [n for n in MIM_ENTRIES if not osp.exists(osp.join(ROOT, n))]
    if missing:
        raise RuntimeError(
            f'cannot build the mmalfm/.mim folder: {", ".join(missing)} '
            f'missing from {ROOT} (an sdist must carry them: MANIFEST.in)')
    return [(name, osp.join(ROOT, name)) for name in MIM_ENTRIES]


def copy_mim(mim_dir: str) -> None:
    """Copy configs/, tools/ and model-index.yml into ``mim_dir``."""
    _remove(mim_dir)
    os.makedirs(mim_dir)
    for name, src in _sources():
        dst = osp.join(mim_dir, name)
        if osp.isdir(src):
            shutil.copytree(src, dst, ignore=_IGNORE)
        else:
            shutil.copyfile(src, dst)


def link_mim(mim_dir: str) -> None:
    """Point ``mim_dir``'s entries at the repository's (relative links)."""
    if osp.islink(mim_dir) or osp.isfile(mim_dir):
        os.remove(mim_dir)
    os.makedirs(mim_dir, exist_ok=True)
    for name, src in _sources():
        dst = osp.join(mim_dir, name)
        _remove(dst)
        os.symlink(osp.relpath(src, mim_dir), dst)


class build_py_with_mim(build_py):  # noqa: N801  (setuptools' naming)
    """``build_py`` that also lays out ``mmalfm/.mim`` (see the module
    docstring); setuptools runs it for wheels and for editable installs
    (``editable_mode`` set)."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            link_mim(osp.join(ROOT, PACKAGE, '.mim'))
        else:
            copy_mim(osp.join(self.build_lib, PACKAGE, '.mim'))


setup(cmdclass={'build_py': build_py_with_mim})
