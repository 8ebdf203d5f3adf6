# SoCo R50-FPN, 400 epochs, with the PAPER's third view: V3 = V2 down-sampled
# to 112 px (same crop, hence the same proposals as V2; its own flip and the
# V2 photometrics) instead of the released code's independent 112-px crop.
# Paper vs code: see README.md; the README numbers come from the code
# behaviour (soco_resnet50-fpn_8xb128-coslr-400e_in1k.py).
_base_ = ['./soco_resnet50-fpn_8xb128-coslr-400e_in1k.py']

region_sampler = dict(
    type='SoCoRegionSampler',
    pairs=((0, 1), (0, 2)),
    share_subset={2: 1},  # pair 1-3 reuses pair 1-2's boxes (V3 = V2)
    select_k=4,
    padding_k=4,
    jitter_prob=0.5,
    jitter_ratio=0.1,
    margin=1.0)
train_pipeline = [
    dict(type='LoadImageWithCheck'),
    dict(
        type='MultiViewCrop',
        views=[
            dict(kind='whole', size=224),
            dict(kind='resized_crop', size=224, scale=(0.5, 1.)),
            dict(kind='resize_of', source=1, size=112),
        ],
        region_sampler=region_sampler,
        max_tries=5),
    dict(
        type='ViewPipelines',
        transforms=[{{_base_.view_pipeline1}}, {{_base_.view_pipeline2}}]),
    dict(type='PackMultiViewInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
