# The demo detector from random initialisation (the baseline every demo
# export is compared with): same model, data and schedule.
_base_ = './faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py'

model = dict(init_cfg=None)
