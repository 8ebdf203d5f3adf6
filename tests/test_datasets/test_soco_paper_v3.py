# Copyright (c) mmalfm contributors. All rights reserved.
"""The paper-mode SoCo config: V3 is V2 down-sampled (same crop, same boxes)."""
from pathlib import Path

import numpy as np
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmalfm  # noqa: F401
from mmalfm.registry import TRANSFORMS
from mmalfm.structures import ViewGeometry

REPO = Path(__file__).resolve().parents[2]


def test_paper_v3_shares_crop_and_boxes_with_v2():
    cfg = Config.fromfile(REPO / 'configs' / 'soco' / (
        'soco-paperv3_resnet50-fpn_8xb128-coslr-400e_in1k.py'))
    crop_cfg = cfg.train_dataloader.dataset.pipeline[1]
    assert crop_cfg.type == 'MultiViewCrop'
    with DefaultScope.overwrite_default_scope('mmalfm'):
        crop = TRANSFORMS.build(crop_cfg)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (180, 240, 3), dtype=np.uint8)
    xy = rng.uniform(0, 120, (40, 2))
    wh = rng.uniform(40, 110, (40, 2))
    proposals = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    for seed in range(5):
        np.random.seed(seed)
        out = crop(dict(img=img, img_shape=img.shape[:2],
                        ori_shape=img.shape[:2], proposals=proposals,
                        img_path='x.jpg'))
        geom = ViewGeometry.from_dict(out['view_geometry'])
        # V3 (index 2) is V2's crop at 112 px.
        assert geom.crop[2].tolist() == geom.crop[1].tolist()
        assert geom.out_size[2].tolist() == [112, 112]
        assert [im.shape[:2] for im in out['img']] == [(224, 224),
                                                       (224, 224),
                                                       (112, 112)]
        regions = out['regions']
        assert regions['views'].tolist() == [0, 1, 0, 2]
        # Pair 1-3 reuses pair 1-2's boxes: same ids, same source boxes.
        for a, b in ((0, 2), (1, 3)):
            assert regions['ids'][a].tolist() == regions['ids'][b].tolist()
            np.testing.assert_array_equal(regions['boxes'][a],
                                          regions['boxes'][b])
