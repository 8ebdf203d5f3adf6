# CrossCL R50, 800 epochs on COCO train2017 (labels ignored), 8 x 32 images.
# FLAG: lr 0.3 is kept as released (COCO script), 10x the ImageNet value
# 0.03 for the same global batch 256 -- verify before reuse (README.md,
# pitfall 5). For the ImageNet value use
# --cfg-options optim_wrapper.optimizer.lr=0.03.
_base_ = ['./crosscl_resnet50_8xb32-coslr-200e_in1k.py']

max_epochs = 800
batch_size = 32
num_gpus = 8

data_root = 'data/coco/'
train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img_path='train2017/')))

optim_wrapper = dict(optimizer=dict(lr=0.3 * batch_size * num_gpus / 256))
param_scheduler = [
    dict(_base_.param_scheduler[0], T_max=max_epochs, end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(checkpoint=dict(interval=50, max_keep_ckpts=3))
