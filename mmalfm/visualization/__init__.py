# Copyright (c) mmalfm contributors. All rights reserved.
"""Visualization modules of mmalfm (none of our own yet)."""
# Our registries are children of MMPretrain's: register its visualization modules
# too, so a config in the mmalfm scope finds them without a prefix.
import mmpretrain.visualization  # noqa: F401
