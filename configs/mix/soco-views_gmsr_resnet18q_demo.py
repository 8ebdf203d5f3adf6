# Mix and match (1): SoCo's view recipe and region sampler with ALFM's
# losses. Views = SoCo's V1 (whole image), V2 (crop) and V3 (small crop),
# scaled to the demo (64/64/32 px), SoCoRegionSampler proposals with V1-side
# jitter and pairs (V1, V2), (V1, V3); the model is ALFM with GMSR on
# (V1, V2) and CDLP on every id-matched proposal pair of the sampler (no
# local patches; the model reads the views from the batch). Nothing but the
# config changes: the geometry core, the sampler and the losses are shared. (ALFM's
# photometric pipelines are SoCo's V1/V2 settings.)
_base_ = ['../alfm/alfm_resnet18q-fpn_1xb8-coslr-10e_demo.py']

model = dict(heads=dict(gmsr=dict(global_views=(0, 1))))
soco_sampler = dict(
    type='SoCoRegionSampler',
    pairs=((0, 1), (0, 2)),
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
            dict(kind='whole', size=64),
            dict(kind='resized_crop', size=64, scale=(0.5, 1.)),
            dict(kind='resized_crop', size=32, scale=(0.5, 1.)),
        ],
        region_sampler=soco_sampler,
        max_tries=5),
    dict(
        type='ViewPipelines',
        transforms=[{{_base_.view_pipeline1}}, {{_base_.view_pipeline2}}]),
    dict(type='PackMultiViewInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
