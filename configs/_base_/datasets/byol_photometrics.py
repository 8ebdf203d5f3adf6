# BYOL's asymmetric photometric view pipelines as SoCo released them
# (Wei et al., 2021), shared by SoCo and ALFM: view_pipeline1 = colour jitter
# p=0.8, grayscale p=0.2, blur p=1; view_pipeline2 = the same with blur
# p=0.1 and solarize p=0.2.
view_pipeline1 = [
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.4,
                contrast=0.4,
                saturation=0.2,
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
        prob=1.),
]
view_pipeline2 = view_pipeline1[:-1] + [
    dict(
        type='GaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=0.1),
    dict(type='Solarize', thr=128, prob=0.2),
]
