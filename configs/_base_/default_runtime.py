# Runtime shared by every mmalfm config.
default_scope = 'mmalfm'

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # epoch-based runs: item i of epoch e drawn from a (seed, e, i) stream,
    # so a resumed run gets the same augmentations (mmalfm.datasets.seeding)
    data_seed=dict(type='PerSampleSeedHook'),
    # stop at the first NaN/Inf loss, weight or BN statistic, naming it and
    # the iteration, before a checkpoint is written (every algorithm)
    non_finite=dict(type='NonFiniteCheckHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # On machines without CUDA tools/train.py switches to gloo (and SyncBN
    # to BN), with a warning in the log.
    dist_cfg=dict(backend='nccl'),
)

log_processor = dict(
    window_size=10,
    custom_cfg=[dict(data_src='', method='mean', window_size='global')])

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='UniversalVisualizer', vis_backends=vis_backends, name='visualizer')

log_level = 'INFO'
load_from = None
resume = False

# A fixed seed: every run is reproducible from its config dump.
randomness = dict(seed=0, deterministic=False)
