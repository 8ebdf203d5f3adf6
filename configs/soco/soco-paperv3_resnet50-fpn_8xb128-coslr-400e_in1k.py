# SoCo R50-FPN, 400 epochs, with the PAPER's third view: V3 = V2 down-sampled
# to 112 px (same crop, hence the same proposals as V2; its own flip and the
# V2 photometrics) instead of the released code's independent 112-px crop.
# Paper vs code: see README.md; the README numbers come from the code
# behaviour (soco_resnet50-fpn_8xb128-coslr-400e_in1k.py).
_base_ = ['./soco_resnet50-fpn_8xb128-coslr-400e_in1k.py']

# SoCo's views and sampler (_base_/datasets/soco_pipelines.py) but V3:
# pair 1-3 reuses pair 1-2's boxes (V3 = V2)
region_sampler = dict(_base_.region_sampler, share_subset={2: 1})
train_pipeline = [
    _base_.train_pipeline[0],
    dict(
        _base_.train_pipeline[1],
        views=_base_.train_pipeline[1].views[:2] +
        [dict(kind='resize_of', source=1, size=112)],
        region_sampler=region_sampler),
    *_base_.train_pipeline[2:],
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
