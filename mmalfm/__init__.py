# Copyright (c) mmalfm contributors. All rights reserved.
"""mmalfm: region-level self-supervised pretraining for object detection.

Importing the package checks the OpenMMLab versions, makes checkpoint loading
safe on torch >= 2.6 (see :mod:`mmalfm.utils.checkpoint`) and registers our
modules, so ``custom_imports=dict(imports=['mmalfm'])`` in any OpenMMLab
config is enough to use ``type='mmalfm.<Name>'``.
"""
import mmcv
import mmengine
from mmengine.utils import digit_version

from .version import __version__, version_info

_RANGES = {
    # package: (module, minimum inclusive, maximum exclusive)
    'mmcv': (mmcv, '2.0.0', '2.2.0'),
    'mmengine': (mmengine, '0.10.0', '0.11.0'),
}
for _name, (_module, _low, _high) in _RANGES.items():
    _found = digit_version(_module.__version__)
    if not digit_version(_low) <= _found < digit_version(_high):
        raise ImportError(
            f'mmalfm {__version__} needs {_low} <= {_name} < {_high}, found '
            f'{_module.__version__}. See docs/get_started.md.')

from .utils.checkpoint import register_safe_checkpoint_globals  # noqa: E402

register_safe_checkpoint_globals()

from .utils import mim as _mim  # noqa: E402,F401  (`mmalfm::` config paths)

from . import datasets, engine, evaluation, models, visualization  # noqa: E402,F401,E501

__all__ = ['__version__', 'version_info']
