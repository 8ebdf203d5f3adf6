# CrossCL views (as released): one shared horizontal flip of the
# source (p 0.5) before cropping, two independent RandomResizedCrop(224,
# scale 0.2-1, ratio 3/4-4/3) views, then per view, in this order:
# GaussianBlur sigma U(0.1, 2) p 0.5 -> ColorJitter(0.4, 0.4, 0.4, 0.1)
# p 0.8 -> RandomGrayscale p 0.2 (blur first, unlike MoCo v2). Regions: the
# 6x6 grid of 48-px windows at stride 32 in the query view (view 0), mapped
# to the key view (view 1); id -1 where not fully inside the key view.
# `crop_size` must equal model.view_size; the window grid is the sampler's
# (the model reads it from the batch).
crop_size = 224
window = 48
window_stride = 32
view_pipeline = [
    dict(
        type='GaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=0.5),
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
]
region_sampler = dict(
    type='CrossCLWindowSampler',
    query=0,
    key=1,
    view_size=crop_size,
    window=window,
    stride=window_stride)
train_pipeline = [
    dict(type='LoadImageWithCheck'),
    dict(
        type='MultiViewCrop',
        views=[
            dict(
                kind='resized_crop',
                size=crop_size,
                scale=(0.2, 1.),
                ratio=(3 / 4, 4 / 3),
                num=2)
        ],
        flip='shared',
        region_sampler=region_sampler,
        max_tries=1),
    dict(type='ViewPipelines', transforms=[view_pipeline]),
    dict(type='PackMultiViewInputs'),
]
