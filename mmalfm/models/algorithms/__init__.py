# Copyright (c) mmalfm contributors. All rights reserved.
from .base import RegionBatch, RegionSelfSupervisor
from .soco import SoCo
from .upstream import register_upstream_transfers

__all__ = [
    'RegionBatch', 'RegionSelfSupervisor', 'SoCo',
    'register_upstream_transfers'
]
from .alfm import *  # noqa: F401,F403,E402
from .alfm import __all__ as _alfm_all  # noqa: E402
__all__ += _alfm_all
from .crosscl import *  # noqa: F401,F403,E402
from .crosscl import __all__ as _crosscl_all  # noqa: E402
__all__ += _crosscl_all
from .dupr import *  # noqa: F401,F403,E402
from .dupr import __all__ as _dupr_all  # noqa: E402
__all__ += _dupr_all
