# Copyright (c) mmalfm contributors. All rights reserved.
"""Evaluation modules of mmalfm: detection-transfer metrics and the region
probe (docs/user_guides/region_probe.md)."""
# Our registries are children of MMPretrain's: register its evaluation modules
# too, so a config in the mmalfm scope finds them without a prefix.
import mmpretrain.evaluation  # noqa: F401
from .metrics import *  # noqa: F401,F403,E402
from .metrics import __all__ as _metrics_all  # noqa: E402
# ``region_probe`` (the function) stays in its module: exported here it
# would shadow the module ``mmalfm.evaluation.region_probe``.
from .region_probe import (DEMO_DETECTOR, RegionFeatures,  # noqa: E402
                           RegionProbe, RegionProbeError, RegionSet,
                           format_results)

__all__ = [
    *_metrics_all, 'DEMO_DETECTOR', 'RegionFeatures', 'RegionProbe',
    'RegionProbeError', 'RegionSet', 'format_results'
]
