# Copyright (c) mmalfm contributors. All rights reserved.
"""Region samplers of SoCo, CrossCL, DUPR and ALFM.

Each sampler implements the :class:`~.regions.BaseRegionSampler` contract:
given the ``K`` drawn views of one image (a :class:`ViewGeometry` of batch
shape ``[K]``), it returns :class:`~.regions.Regions` -- region sets of ids
and **source-pixel** boxes (continuous corners, see
``docs/advanced_guides/geometry.md``) whose pairs are matched by id equality
-- or None to ask the transform for new crops. All geometry goes through
:mod:`mmalfm.structures`; boxes are vectorised (no Python loop over boxes),
and the only randomness is the ``rng`` passed in, so the output is a pure
function of ``(geometry, img_shape, proposals, rng, attempt, last_attempt)``.

Summary (each method's details: ``configs/<method>/README.md``):

=====================  ===================================================
sampler                sets / pairs / ids
=====================  ===================================================
SoCoRegionSampler      per directed view pair ``(a, b)``: the a-side set
                       (V1 copy, jittered) and the b-side set, always
                       ``padding_k`` rows each; ids = proposal index + 1
                       (the released ``append_prop_id``), ``-1`` for the
                       whole-view fallback box.
CrossCLWindowSampler   query set (36 windows, ids ``0..35``) and key set
                       (same rows; id ``-1`` where the window is not fully
                       inside the key view).
DUPRGridSampler        two sets with the ``S x S`` cells of the two views'
                       overlap (or random boxes in it), ids ``0..S²-1``,
                       identical source boxes.
ALFMRegionSampler      two sets with ``num_regions`` regions inside the
                       overlap (proposals, topped up with random boxes),
                       ids ``0..N-1``; ``local_boxes`` = the source
                       boxes of the local patch views.
=====================  ===================================================
"""
from .alfm import ALFMRegionSampler
from .crosscl import CrossCLWindowSampler
from .dupr import DUPRGridSampler
from .soco import SoCoRegionSampler

__all__ = [
    'SoCoRegionSampler', 'CrossCLWindowSampler', 'DUPRGridSampler',
    'ALFMRegionSampler'
]
