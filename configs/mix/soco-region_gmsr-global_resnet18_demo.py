# Mix and match (3): heads from two methods in one model, by config only.
# SoCo's demo (views, proposals, trunk and region head) plus ALFM's GMSR head
# on the two 64-px views V1 and V2: the region head contrasts the boxes of
# each view pair, the GMSR head aligns the global embeddings of V1 and V2 and
# spreads them (coding rate). Both heads share the trunk; only the region
# head reads the EMA target (docs/advanced_guides/heads.md).
_base_ = ['../soco/soco_resnet18-fpn_1xb8-coslr-10e_demo.py']

model = dict(
    heads=dict(
        gmsr=dict(
            type='GMSRHead',
            # avgpool(C5 of the demo ResNet-18: 128 channels) -> 512 -> 64
            projector=dict(
                _base_.byol_projector,
                in_channels=128,
                hid_channels=512,
                out_channels=64,
                with_avg_pool=True),
            # ALFM's GMSR recipe: CodingRateLoss's defaults (eps2 0.05,
            # beta 1, alignment weight 1, gathered across GPUs)
            loss=dict(type='CodingRateLoss'),
            global_views=(0, 1))))
