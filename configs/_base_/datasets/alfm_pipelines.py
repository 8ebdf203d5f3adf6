# ALFM views (our design [D]): two global views (RandomResizedCrop 224,
# scale 0.3-1: scene-centric images need larger crops) and 4 local patches
# (tight crops of the regions, 96 px), BYOL-style asymmetric photometrics:
# G1 = SoCo V1 settings (blur p=1), G2 and the local patches = SoCo V2
# settings (blur p=0.1, solarize p=0.2). Flips independent (p=0.5).
_base_ = ['./byol_photometrics.py']  # view_pipeline1 / view_pipeline2
global_size = 224
local_size = 96
num_local = 4
# Regions inside G1 ∩ G2: selective-search proposals, topped up with random
# boxes (side 0.2-0.6 of the overlap), the count logged as alfm_random_boxes.
region_sampler = dict(
    type='ALFMRegionSampler',
    views=(0, 1),
    num_regions=num_local,
    source='proposals',
    min_size_frac=0.1,
    random_side=(0.2, 0.6),
    min_overlap=0.1,
    margin=1.0)
views = [
    dict(kind='resized_crop', size=global_size, scale=(0.3, 1.), num=2),
    dict(kind='region_crop', size=local_size, margin=0., num=num_local),
]
train_pipeline = [
    dict(type='LoadImageWithCheck'),
    dict(
        type='MultiViewCrop',
        views=views,
        region_sampler=region_sampler,
        max_tries=5),
    # a list shorter than the views broadcasts its last pipeline: G1 gets
    # pipeline 1, G2 and every local patch pipeline 2
    dict(
        type='ViewPipelines',
        transforms=[{{_base_.view_pipeline1}}, {{_base_.view_pipeline2}}]),
    dict(type='PackMultiViewInputs'),
]
# Ablation "random boxes vs proposals": the same pipeline, random regions.
train_pipeline_random_boxes = [
    train_pipeline[0],
    dict(
        type='MultiViewCrop',
        views=views,
        region_sampler=dict(region_sampler, source='random'),
        max_tries=5),
    train_pipeline[2],
    train_pipeline[3],
]
# Ablation "GMSR only": the two global views, no regions.
train_pipeline_global_only = [
    train_pipeline[0],
    dict(type='MultiViewCrop', views=views[:1]),
    train_pipeline[2],
    train_pipeline[3],
]
