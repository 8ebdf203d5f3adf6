# Ablation 3 (see README.md): random boxes in the overlap instead of
# selective-search proposals (same images, same everything else).
_base_ = ['./alfm_resnet50-fpn_8xb64-coslr-800e_coco.py']

train_dataloader = dict(
    dataset=dict(pipeline={{_base_.train_pipeline_random_boxes}}))
