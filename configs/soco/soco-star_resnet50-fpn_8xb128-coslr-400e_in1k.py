# SoCo* R50-FPN, 400 epochs (released `SoCo_FPN_Star_400ep`): a fourth view.
# V1 whole 224, V2 crop 224, V3 independent crop 192, V4 = V2 resized to 112
# (own flip, V2 photometrics); pair 1-4 reuses pair 1-2's proposals (the
# same jittered V1 boxes). Loss: 1<->2, 1<->3, 1<->4.
_base_ = ['./soco_resnet50-fpn_8xb128-coslr-400e_in1k.py']

# SoCo's views and sampler (_base_/datasets/soco_pipelines.py) with V3 at
# 192 px and V4 = V2 at 112 px, sharing pair 1-2's boxes
region_sampler = dict(
    _base_.region_sampler,
    pairs=((0, 1), (0, 2), (0, 3)),
    share_subset={3: 1})
train_pipeline = [
    _base_.train_pipeline[0],
    dict(
        _base_.train_pipeline[1],
        views=_base_.train_pipeline[1].views[:2] + [
            dict(kind='resized_crop', size=192, scale=(0.5, 1.)),
            dict(kind='resize_of', source=1, size=112),
        ],
        region_sampler=region_sampler),
    *_base_.train_pipeline[2:],
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
