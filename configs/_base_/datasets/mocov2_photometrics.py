# MoCo v2's photometric view pipeline (Chen et al. 2020), shared by DUPR and
# CrossCL (which applies the blur first, as released): colour jitter
# (0.4, 0.4, 0.4, 0.1) p 0.8 -> grayscale p 0.2 -> Gaussian blur sigma
# U(0.1, 2) p 0.5. The crops and flips are the pipelines files'.
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
