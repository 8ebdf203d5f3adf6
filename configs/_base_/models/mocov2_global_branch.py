# MoCo v2's global branch (Chen et al. 2020), shared by CrossCL and DUPR:
# avgpool(C5) -> Linear-ReLU-Linear 2048 -> 2048 -> 128 (no BN), and a
# 65536-key queue with InfoNCE at T 0.2, keys gathered across GPUs. The
# model bases use it in their `MoCoGlobalHead`: `heads.moco.neck` and
# `heads.moco.head`.
mocov2_global_neck = dict(
    type='MoCoV2Neck',
    in_channels=2048,
    hid_channels=2048,
    out_channels=128,
    with_avg_pool=True)
mocov2_global_head = dict(
    type='MoCoQueueHead',
    feat_dim=128,
    queue_len=65536,
    temperature=0.2,
    loss_weight=1.0,
    gather=True)
