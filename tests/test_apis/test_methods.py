# Copyright (c) mmalfm contributors. All rights reserved.
"""``mmalfm.apis.methods``: a method by name or config, read from its own
files."""
import os.path as osp

import pytest
from mmengine.registry import DefaultScope

from mmalfm.apis.methods import (MethodConfigError, config_needs_proposals,
                                 demo_config, needs_proposals,
                                 resolve_method)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.parametrize('method,expected', [('soco', True), ('alfm', True),
                                             ('crosscl', False),
                                             ('dupr', False), ('byol', False)])
def test_needs_proposals_is_read_from_the_demo_config(method, expected):
    config = osp.join(REPO, demo_config(method, REPO))
    assert needs_proposals(config) is expected
    # the same answer when a detector run left MMDetection's scope current,
    # where our datasets and samplers are not registered
    with DefaultScope.overwrite_default_scope('mmdet'):
        assert needs_proposals(config) is expected


def test_a_sampler_declares_it_without_a_proposal_dataset():
    cfg = dict(train_dataloader=dict(dataset=dict(
        type='UnlabeledImageDataset',
        pipeline=[dict(type='MultiViewCrop',
                       region_sampler=dict(type='SoCoRegionSampler'))])))
    assert config_needs_proposals(cfg) is True
    cfg['train_dataloader']['dataset']['pipeline'][0]['region_sampler'] = \
        dict(type='DUPRGridSampler')
    assert config_needs_proposals(cfg) is False


def test_unknown_names_and_files_say_the_fix(tmp_path):
    with pytest.raises(MethodConfigError, match='not a declared method'):
        resolve_method('nosuchmethod', REPO)
    with pytest.raises(MethodConfigError, match='no such config'):
        resolve_method(str(tmp_path / 'missing.py'), REPO)
    with pytest.raises(MethodConfigError, match='has no configs/nosuch/'):
        demo_config('nosuch', REPO)
