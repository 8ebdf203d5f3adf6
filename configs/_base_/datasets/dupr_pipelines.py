# DUPR views (our reconstruction, [D]): two MoCo v2 views (RandomResizedCrop
# 224, scale 0.2-1, ratio 3/4-4/3, independent flips p 0.5) whose overlap
# must cover >= 10 % of the smaller crop (up to 10 draws; else the image
# contributes only the global loss), a 4x4 grid of patch identities over
# the overlap, and MoCo v2 photometrics on each view.
crop_size = 224
view_pipeline = [
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.4,
                contrast=0.4,
                saturation=0.4,
                hue=0.1)
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
    dict(
        type='GaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=0.5),
]
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
    dict(type='ViewPipelines', transforms=[view_pipeline]),
    dict(type='PackMultiViewInputs'),
]
