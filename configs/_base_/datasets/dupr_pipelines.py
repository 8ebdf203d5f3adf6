# DUPR views (our reconstruction, [D]): two MoCo v2 views (RandomResizedCrop
# 224, scale 0.2-1, ratio 3/4-4/3, independent flips p 0.5) whose overlap
# must cover >= 10 % of the smaller crop (up to 10 draws; else the image
# contributes only the global loss), a 4x4 grid of patch identities over
# the overlap, and MoCo v2 photometrics on each view.
_base_ = ['./mocov2_photometrics.py']  # view_pipeline
crop_size = 224
region_sampler = dict(
    type='DUPRGridSampler',
    views=(0, 1),
    grid=4,  # [D] S
    min_overlap=0.1,  # [D] of the smaller crop's area
    mode='grid',  # [D] 'random': num_random boxes, sides U(random_side)
    num_random=16,
    random_side=(0.25, 0.5))
train_pipeline = [
    dict(type='LoadImageWithCheck'),
    dict(
        type='MultiViewCrop',
        views=[
            dict(kind='resized_crop', size=crop_size, scale=(0.2, 1.)),
            dict(kind='resized_crop', size=crop_size, scale=(0.2, 1.)),
        ],
        flip='independent',
        region_sampler=region_sampler,
        max_tries=10),  # [D]
    dict(type='ViewPipelines', transforms=[_base_.view_pipeline]),
    dict(type='PackMultiViewInputs'),
]
