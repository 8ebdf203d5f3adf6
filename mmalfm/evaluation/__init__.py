# Copyright (c) mmalfm contributors. All rights reserved.
"""Evaluation modules of mmalfm (none of our own yet)."""
# Our registries are children of MMPretrain's: register its evaluation modules
# too, so a config in the mmalfm scope finds them without a prefix.
import mmpretrain.evaluation  # noqa: F401
from .metrics import *  # noqa: F401,F403,E402
