# Mix and match (2): ALFM with CrossCL-style sliding windows instead of
# selective-search proposals. CrossCLWindowSampler defines the windows in the
# first global view (here 2 x 2 windows of 32 px, stride 32, in the 64-px
# demo view), tracks them into the second (id -1 where a window is not fully
# inside it); the 4 local patches are tight crops of the 4 windows
# (region_crop views take the boxes and ids of region set 0, the query
# windows). CDLP matches regions by id, so a window outside the second view
# only loses its cross-view term. No proposals are needed.
_base_ = ['../alfm/alfm_resnet18q-fpn_1xb8-coslr-10e_demo.py']

window_sampler = dict(
    type='CrossCLWindowSampler', query=0, key=1, view_size=64, window=32,
    stride=32)
train_pipeline = [
    dict(type='LoadImageWithCheck'),
    dict(
        type='MultiViewCrop',
        views=[
            dict(kind='resized_crop', size=64, scale=(0.3, 1.), num=2),
            dict(kind='region_crop', size=32, region_set=0, num=4),
        ],
        region_sampler=window_sampler,
        max_tries=5),
    dict(
        type='ViewPipelines',
        transforms=[{{_base_.view_pipeline1}}, {{_base_.view_pipeline2}}]),
    dict(type='PackMultiViewInputs'),
]
# the windows need no proposals: the plain image dataset
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='UnlabeledImageDataset',
        data_root={{_base_.data_root}},
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img_path='train2017/'),
        pipeline=train_pipeline))
