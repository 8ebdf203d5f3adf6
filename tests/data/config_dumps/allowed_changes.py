# Differences between a config's merged dict and its recorded dump
# (tests/data/config_dumps/merged_configs.json) that are made on purpose;
# tests/test_config_dumps.py applies them to the recorded side before
# comparing. Add one line per change, with a comment saying why; an entry
# that no recorded config uses fails the test (so none goes stale).

#: ``type`` names renamed on purpose: ``{'OldName': 'NewName'}``. Every
#: ``type`` value equal to ``OldName`` in the recorded dumps reads as
#: ``NewName``.
RENAMED_TYPES = {}

#: Keys deleted on purpose because the data (views, pipeline) already
#: states them: dotted key paths, ``fnmatch`` patterns matched against the
#: whole path (list items are numbered: ``train_pipeline.1.views``; ``*``
#: also matches dots), e.g. ``'model.view_pairs'``. A matching key is
#: dropped from the recorded and the current dict of every config.
DELETED_KEYS = {
    # SoCo's pairs are the region sampler's (SoCoRegionSampler(pairs=...))
    'model.view_pairs',
    # CrossCL's window grid is the sampler's (CrossCLWindowSampler)
    'model.window',
    'model.window_stride',
    # ALFM reads its local views from the batch (MultiViewCrop region_crop)
    'model.num_views',
    'model.num_local_views',
}

#: Top-level helper variables added on purpose (fragments share them with
#: the configs inheriting them): ``fnmatch`` patterns of dotted paths,
#: dropped from both sides (configs recorded later have them).
ADDED_KEYS = {
    # the trunk's RoI pool, used by the SoCo and ALFM RoI embeddings
    'roi_pool',
    # the BYOL-style MLP of SoCo's projector/predictor and ALFM's GMSR
    'byol_projector',
}

#: Model types whose flat keys moved into ``model.heads``: the recorded
#: ``model`` is read through the class's own ``legacy`` declaration
#: (``LegacyLayout.upgrade_config``, the same code that builds old configs).
MOVED_TO_HEADS = {'SoCo', 'ALFM', 'CrossCL', 'DUPR'}

#: Keys of ``_base_`` fragments moved on purpose: ``{config: {recorded
#: dotted path: current dotted path}}`` (a move target is compared, not
#: dropped as an ``ADDED_KEYS`` match).
MOVED_KEYS = {
    # the trunk states its RoI pool for the heads, not as a model key
    'configs/_base_/models/r50-fpn-4conv1fc_trunk.py': {
        'model.roi_pool': 'roi_pool'
    },
}
