# The SoCo demo on detector boxes instead of selective-search proposals:
# only `proposal_file` changes. Make the boxes with a trained demo detector
# (e.g. the demo fine-tuning's checkpoint; a random-init one gives random
# boxes):
#   python tools/data/detector_proposals.py \
#       configs/benchmarks/mmdetection/demo/faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py \
#       CHECKPOINT data/demo/coco/annotations/instances_train2017.json \
#       data/demo/coco/proposals/det_train2017.json \
#       --img-prefix data/demo/coco/train2017 --score-thr 0.05
# (or `python tools/demo/run_demo.py --methods soco --proposals detector
# --proposal-checkpoint CHECKPOINT`).
_base_ = ['./soco_resnet18-fpn_1xb8-coslr-10e_demo.py']

train_dataloader = dict(
    dataset=dict(proposal_file='proposals/det_train2017.json'))
