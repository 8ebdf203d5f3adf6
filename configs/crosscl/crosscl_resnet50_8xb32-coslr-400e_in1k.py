# CrossCL R50, 400 epochs on ImageNet-1K (the checkpoint the released
# detectron2 configs fine-tune: CrossCL_in1k_400e_backbone_fpn.pth).
_base_ = ['./crosscl_resnet50_8xb32-coslr-200e_in1k.py']

max_epochs = 400
param_scheduler = [
    dict(_base_.param_scheduler[0], T_max=max_epochs, end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs)
