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
