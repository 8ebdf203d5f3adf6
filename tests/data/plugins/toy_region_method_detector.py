# The demo detector with the toy method's backbone (ResNet-18 at 1/8 width):
# what tests/data/plugins/toy_region_method_tiny.py's export loads into.
_base_ = ['mmalfm::benchmarks/mmdetection/demo/'
          'faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py']

model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    neck=dict(in_channels=[8, 16, 32, 64]))
