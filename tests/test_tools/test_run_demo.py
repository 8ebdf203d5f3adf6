# Copyright (c) mmalfm contributors. All rights reserved.
"""mmalfm.apis.demo (``tools/demo/run_demo.py``): the `make demo`
orchestrator.

The end-to-end test runs the ``--tiny`` variant (tiny images, one epoch per
run, tools called in-process) on a copy of the tiny demo data, checks the
report and the plots, and that a re-run skips finished stages, resumes an
unfinished fine-tuning and evaluates it with tools/test.py when its
validation is missing."""
import glob
import json
import os
import os.path as osp
import re
import shutil

import pytest
import torch

from conftest import PYTHON, run_tool

from mmalfm.apis import demo as run_demo

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def _options(*argv):
    return run_demo.make_options(run_demo.parse_args(list(argv)))


def test_methods_always_include_the_baseline_in_report_order():
    opts = _options('--methods', 'soco', 'alfm', 'soco')
    assert opts.methods == ['soco', 'alfm', 'byol']
    assert opts.inits == ['random', 'soco', 'alfm', 'byol']
    assert opts.configs == {}
    assert _options().methods == ['alfm', 'byol']
    assert _options('--methods', 'byol', 'dupr').methods == ['dupr', 'byol']
    # every declared method with a demo config, in declaration order
    assert _options('--methods', 'all').methods == [
        'soco', 'alfm', 'crosscl', 'dupr', 'byol']
    with pytest.raises(run_demo.DemoError, match='--label-fraction'):
        _options('--label-fraction', '0')
    with pytest.raises(run_demo.DemoError,
                       match='--methods simclr: not a method'):
        _options('--methods', 'simclr')


def test_a_method_name_resolves_to_its_demo_config():
    """The entry of configs/<name>/metafile.yml marked `Demo: true`; whether
    it needs proposals is read from the config, the export flags from the
    method's transfer declaration."""
    expected = dict(
        alfm=('configs/alfm/alfm_resnet18q-fpn_1xb8-coslr-10e_demo.py',
              True, ('--with-neck', '--with-head')),
        soco=('configs/soco/soco_resnet18-fpn_1xb8-coslr-10e_demo.py',
              True, ('--with-neck', '--with-head')),
        crosscl=('configs/crosscl/crosscl_resnet18q_1xb8-coslr-10e_demo.py',
                 False, ()),
        dupr=('configs/dupr/dupr_resnet18q_1xb8-coslr-10e_demo.py', False,
              ()),
        byol=('configs/byol/byol_resnet18q_1xb8-coslr-10e_demo.py', False,
              ()))
    opts = _options('--methods', 'all')
    for method, (config, proposals, flags) in expected.items():
        assert run_demo.find_config(method) == config
        assert run_demo.pretrain_config(opts, method) == config
        assert run_demo.needs_proposals(opts, method) is proposals
        assert run_demo.export_flags(method) == flags
    plan = [s.name for s in run_demo.build_plan(opts)]
    assert plan[:3] == ['data', 'proposals', 'pretrain_soco']
    # byol alone trains on whole images: no proposals stage
    byol = _options('--methods', 'byol')
    assert [s.name for s in run_demo.build_plan(byol)][:2] == [
        'data', 'pretrain_byol']


def test_a_method_given_by_config():
    """A config instead of a name: its method comes from its model type
    (transfer declaration), proposals from its data pipeline."""
    mix = 'configs/mix/alfm_crosscl-windows_resnet18q_demo.py'
    opts = _options('--methods', mix)
    assert opts.methods == ['alfm', 'byol']
    assert opts.configs == dict(alfm=mix)
    assert run_demo.pretrain_config(opts, 'alfm') == mix
    # an ALFM model trained on CrossCL's windows: no proposals
    assert run_demo.needs_proposals(opts, 'alfm') is False
    assert 'proposals' not in [s.name for s in run_demo.build_plan(opts)]
    demo = 'configs/alfm/alfm_resnet18q-fpn_1xb8-coslr-10e_demo.py'
    with pytest.raises(run_demo.DemoError, match='two configs of alfm'):
        _options('--methods', demo, mix)
    with pytest.raises(run_demo.DemoError, match='no such config'):
        _options('--methods', 'configs/alfm/nope.py')


def test_finetune_schedule_follows_the_label_fraction():
    """240 demo images x 0.25 = 60 labelled, batch 4 -> 15 iterations per
    epoch; the default 300 iterations -> 20 epochs, steps at
    round(20 * 8 / 12) = 13 and round(20 * 11 / 12) = 18, a checkpoint
    every 20 // 4 = 5 epochs."""
    opts = _options('--work-dir', '/w', '--data', 'data/demo')
    cfg = run_demo.load_config(run_demo.DETECTOR)
    options = run_demo.finetune_options(opts, cfg, num_images=60)
    assert options == [
        'train_dataloader.dataset.ann_file='
        '/w/labels/instances_train2017_25pct_seed1.json',
        'train_cfg.max_epochs=20', 'train_cfg.val_interval=20',
        'param_scheduler.1.end=20', 'param_scheduler.1.milestones=[13,18]',
        'default_hooks.checkpoint.interval=5',
        'default_hooks.checkpoint.max_keep_ckpts=1'
    ]
    # the default data needs no rebasing; another root moves every path
    assert run_demo.data_options(opts, cfg) == []
    other = _options('--data', '/d')
    moved = dict(o.split('=', 1) for o in run_demo.data_options(other, cfg))
    assert moved['train_dataloader.dataset.data_root'] == '/d/coco/'
    assert moved['val_evaluator.ann_file'] == \
        '/d/coco/annotations/instances_val2017.json'


def test_rebase_options_and_time_format():
    cfg = dict(a='data/demo/coco/x.json',
               b=[dict(c='data/demo/coco/'), 'data/other'], d=3)
    assert run_demo.rebase_options(cfg, 'data/demo/coco/', '/n/') == \
        ['a=/n/x.json', 'b.0.c=/n/']
    assert run_demo.format_seconds(75.4) == '1:15'
    assert run_demo.format_seconds(3725) == '1:02:05'


def test_missing_pieces_are_named(tmp_path, monkeypatch):
    """A method without a demo config fails before anything runs, naming
    the metafile and the marker; the marked entry is found."""
    monkeypatch.setattr(run_demo.options, 'REPO', str(tmp_path))
    with pytest.raises(run_demo.DemoError) as err:
        run_demo.find_config('dupr')
    assert 'dupr: missing piece: dupr has no configs/dupr/metafile.yml' in \
        str(err.value)
    assert '`Metadata: {Demo: true}`' in str(err.value)
    folder = tmp_path / 'configs' / 'dupr'
    folder.mkdir(parents=True)
    (folder / 'dupr_r18q_demo.py').write_text('')
    entry = ('  - Name: {0}\n    Metadata:\n{1}'
             '    Config: configs/dupr/{0}.py\n')
    (folder / 'metafile.yml').write_text(
        'Models:\n' + entry.format('dupr_r18q_demo', '      Demo: true\n') +
        entry.format('dupr_r50', '      Epochs: 200\n'))
    assert run_demo.find_config('dupr') == 'configs/dupr/dupr_r18q_demo.py'
    (folder / 'metafile.yml').write_text(
        'Models:\n' + entry.format('dupr_r50', '      Epochs: 200\n'))
    with pytest.raises(run_demo.DemoError,
                       match='0 entries are marked as the demo config'):
        run_demo.find_config('dupr')
    (folder / 'metafile.yml').write_text(
        'Models:\n' + entry.format('dupr_gone', '      Demo: true\n'))
    with pytest.raises(run_demo.DemoError,
                       match='the demo config configs/dupr/dupr_gone.py does '
                       'not exist'):
        run_demo.find_config('dupr')

    opts = _options('--methods', 'dupr', '--work-dir', str(tmp_path / 'w'))
    with pytest.raises(run_demo.DemoError) as err:
        run_demo.check_pieces(opts)
    message = str(err.value)
    assert 'missing pieces' in message
    assert 'tools/model_converters/export_to_mmdet.py' in message
    assert 'faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py' in message
    assert 'byol has no configs/byol/metafile.yml' in message
    assert 'configs/dupr/dupr_gone.py does not exist' in message


def test_a_work_dir_of_other_options_is_refused():
    opts = _options('--label-fraction', '0.1')
    earlier = dict(done=True, params=dict(
        tiny=False, label_fraction=0.25, seed=1,
        finetune_iters=run_demo.FINETUNE_ITERS))
    with pytest.raises(run_demo.DemoError,
                       match='stage finetune_alfm was run with'):
        run_demo.check_params(opts, 'finetune_alfm', earlier)
    # the same options pass; pretraining does not depend on the labels
    run_demo.check_params(_options(), 'finetune_alfm', earlier)
    run_demo.check_params(opts, 'pretrain_alfm',
                          dict(done=True, params=dict(tiny=False)))
    with pytest.raises(run_demo.DemoError, match='another --work-dir'):
        run_demo.check_params(
            _options('--tiny'), 'pretrain_alfm',
            dict(done=True, params=dict(tiny=False)))


def _report_rows(report: str) -> dict:
    """``{first cell: [cells]}`` of the results table."""
    rows = {}
    for line in report.splitlines():
        cells = [c.strip() for c in line.strip('|').split('|')]
        if line.startswith('| ') and len(cells) == 8:
            rows[cells[0]] = cells
    return rows


def test_tiny_demo_end_to_end_and_resume(tiny_demo_data, tmp_path, capsys):
    data = tmp_path / 'data'
    shutil.copytree(tiny_demo_data, data)  # proposals are written into it
    work = tmp_path / 'work'
    argv = ['--tiny', '--in-process', '--data', str(data), '--work-dir',
            str(work), '--quiet']
    run_demo.check_pieces(_options(*argv))  # every piece is in the repo

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add contention
    try:
        _check_demo_and_resume(argv, work, capsys)
    finally:
        torch.set_num_threads(threads)


def _check_demo_and_resume(argv, work, capsys):
    assert run_demo.main(argv) == 0
    out = capsys.readouterr().out
    plan = [s.title for s in run_demo.build_plan(_options(*argv))]
    for title in plan:
        assert f'{title} ...' in out, title
    report = (work / 'report.md').read_text()
    rows = _report_rows(report)
    assert set(rows) >= {'random init', 'alfm', 'byol (baseline)'}
    for name in ('random init', 'alfm', 'byol (baseline)'):
        ap, ap50 = rows[name][1:3]
        assert re.fullmatch(r'\d+\.\d', ap) and re.fullmatch(r'\d+\.\d',
                                                             ap50), rows[name]
        assert re.fullmatch(r'\d+:\d\d', rows[name][6]), rows[name]
    metrics = json.loads((work / 'finetune' / 'alfm' /
                          'metrics.json').read_text())['metrics']
    assert rows['alfm'][1] == f'{100 * metrics["coco/bbox_mAP"]:.1f}'
    assert '12 train / 4 val images' in report
    assert '3 images' in report  # 0.25 of 12
    for name in ('loss_pretrain.png', 'loss_finetune.png', 'ap.png'):
        assert (work / name).read_bytes()[:8] == PNG_MAGIC, name
        assert f']({name})' in report
    export = json.loads((work / 'stages' / 'export_alfm.json').read_text())
    assert export['flags'] == ['--with-neck', '--with-head']
    # the region probe of every init, in the report with its noise
    assert '## Region probe' in report
    for init in ('random', 'alfm', 'byol'):
        probe = json.loads((work / 'probe' / f'{init}.json').read_text())
        record = json.loads(
            (work / 'stages' / f'probe_{init}.json').read_text())
        assert record['linear_acc'] == probe['linear_acc']
        assert probe['features'] == 'backbone' and probe['cv_folds'] == 5
        name = {'random': 'random init'}.get(init, init)
        assert (f'| {name} | {probe["cv_linear_acc"]:.1f} | '
                f'{probe["cv_knn_acc"]:.1f} | ') in report
    assert 'OMP_NUM_THREADS=' in report and 'ATEN_CPU_CAPABILITY=' in report

    # An interrupted fine-tuning: its records and logged validation gone,
    # its checkpoint kept.
    for stage in ('finetune_byol', 'evaluate_byol'):
        os.remove(work / 'stages' / f'{stage}.json')
    for path in glob.glob(str(work / 'finetune' / 'byol' / '*' / 'vis_data')):
        shutil.rmtree(path)
    before = {p: os.path.getmtime(p) for p in glob.glob(
        str(work / 'pretrain' / '*' / '*.pth'))}
    assert before

    assert run_demo.main(argv) == 0
    out = capsys.readouterr().out
    redone = {'fine-tune from byol', 'evaluate byol', 'report'}
    for title in plan:
        if title in redone:
            assert f'{title} ...' in out, title
        else:
            assert f'{title}: done before' in out, title
    assert {p: os.path.getmtime(p) for p in before} == before
    evaluation = json.loads((work / 'finetune' / 'byol' /
                             'metrics.json').read_text())
    assert evaluation['source'].startswith('tools/test.py')
    assert (work / 'finetune' / 'byol' / 'test_metrics.json').exists()
    record = json.loads((work / 'stages' / 'finetune_byol.json').read_text())
    assert len(record['attempts']) == 1


def test_probe_noise_and_pinned_tool_environment(monkeypatch):
    # per-box differences 0, +1, -1, 0, +1: mean +20 points, paired SE
    # 100 * sqrt(0.56 / 5) = 33.5 points
    row, base = dict(c='11010'), dict(c='10100')
    assert run_demo.paired_delta(row, base, 'c') == \
        '+20.0 ± 33.5 (within noise)'
    assert run_demo.paired_delta(dict(c='1111'), dict(c='0111'), 'c') == \
        '+25.0 ± 21.7 (within noise)'
    assert run_demo.paired_delta(dict(c='1' * 8), dict(c='0' * 8), 'c') == \
        '+100.0 ± 0.0 (beyond noise)'
    assert run_demo.paired_delta(dict(c='1'), dict(), 'c') == '—'
    for key in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'ATEN_CPU_CAPABILITY'):
        monkeypatch.delenv(key, raising=False)
    env = run_demo.pinned_env()
    assert env['OMP_NUM_THREADS'] == str(run_demo.DEMO_THREADS) == '2'
    assert env['ATEN_CPU_CAPABILITY'] == 'avx2'


def test_finetune_seeds_plan_and_summary(tmp_path):
    opts = _options('--work-dir', str(tmp_path), '--finetune-seeds', '3')
    names = [s.name for s in run_demo.build_plan(opts)]
    for init in ('random', 'alfm', 'byol'):
        assert [n for n in names if n.startswith(f'evaluate_{init}')] == [
            f'evaluate_{init}', f'evaluate_{init}_seed1',
            f'evaluate_{init}_seed2']
    assert run_demo.finetune_dir(opts, 'alfm', 2).endswith(
        'finetune/alfm_seed2')
    # fake evaluations: random 4, 5, 6 (mean 5, std 1); alfm 9, 9, 12
    # (mean 10, std sqrt(3)): Welch t = 5 / sqrt(1/3 + 1) = 4.33 with
    # (4/3)^2 / ((1/3)^2/2 + 1/2) = 3.2 degrees of freedom: p = 0.020
    for init, aps in (('random', (4, 5, 6)), ('alfm', (9, 9, 12))):
        for seed, ap in enumerate(aps):
            run_demo.save_record(
                opts, f'evaluate_{run_demo.run_key(init, seed)}',
                dict(done=True, metrics={'coco/bbox_mAP': ap / 100}))
    summary = {r['init']: r for r in run_demo.seed_summary(opts)}
    assert summary['random']['mean'] == pytest.approx(5.0)
    assert summary['random']['std'] == pytest.approx(1.0)
    assert summary['alfm']['std'] == pytest.approx(3**0.5)
    assert summary['byol']['values'] == [] and summary['byol']['mean'] is None
    text = '\n'.join(run_demo.seed_lines(opts))
    assert '| random init | 5.0 ± 1.0 (3) | 4.0 / 5.0 / 6.0 | — |' in text
    assert '| alfm | 10.0 ± 1.7 (3) | 9.0 / 9.0 / 12.0 | +5.0 (p = 0.02, ' \
        'beyond noise) |' in text
    # two seeds each, 0.4 apart with spreads of 0.14 / 0.21: p = 0.15
    assert run_demo.welch_p([2.5, 2.2], [2.0, 1.8]) == pytest.approx(
        0.1481, abs=1e-4)
    assert run_demo.welch_p([3.0, 3.0], [3.0, 3.0]) == 1.0
    assert run_demo.welch_p([3.0, 3.0], [2.0, 2.0]) == 0.0
    assert run_demo.seed_lines(_options('--work-dir', str(tmp_path),
                                        '--finetune-seeds', '1')) == []


def test_detector_proposals_option(tmp_path, monkeypatch):
    """--proposals detector: needs a checkpoint, runs the detector tool
    into its own file, points SoCo/ALFM at it and is part of their
    records."""
    with pytest.raises(run_demo.DemoError,
                       match='needs --proposal-checkpoint PATH: a trained'):
        _options('--proposals', 'detector')
    with pytest.raises(run_demo.DemoError, match='does not exist'):
        _options('--proposals', 'detector', '--proposal-checkpoint',
                 str(tmp_path / 'nope.pth'))
    with pytest.raises(run_demo.DemoError, match='only used with'):
        _options('--proposal-checkpoint', str(tmp_path / 'nope.pth'))
    ckpt = tmp_path / 'det.pth'
    ckpt.write_bytes(b'')
    opts = _options('--methods', 'soco', '--proposals', 'detector',
                    '--proposal-checkpoint', str(ckpt), '--data',
                    str(tmp_path / 'd'))
    stage = next(s for s in run_demo.build_plan(opts)
                 if s.name == 'proposals')
    assert stage.title == 'detector proposals'
    out = str(tmp_path / 'd' / 'coco' / 'proposals' / 'det_train2017.json')
    assert stage.outputs(opts) == [out]
    calls = []
    monkeypatch.setattr(run_demo.stages, 'run_tool',
                        lambda o, name, tool, *args: calls.append(
                            (name, tool, [str(a) for a in args])))
    assert run_demo.stage_proposals(opts) == dict(file=out,
                                                  checkpoint=str(ckpt))
    coco = str(tmp_path / 'd' / 'coco')
    assert calls == [('proposals', 'detector_proposals', [
        run_demo.DETECTOR, str(ckpt),
        f'{coco}/annotations/instances_train2017.json', out, '--img-prefix',
        f'{coco}/train2017', '--score-thr', '0.05'])]
    assert run_demo.TOOLS['detector_proposals'] == \
        'tools/data/detector_proposals.py'
    assert run_demo.proposal_options(opts, 'soco') == [
        'train_dataloader.dataset.proposal_file=proposals/det_train2017.json']
    assert run_demo.proposal_options(opts, 'byol') == []
    assert run_demo.stage_params(opts, 'pretrain_soco')['proposals'] == \
        'detector'
    assert 'proposals' not in run_demo.stage_params(opts, 'pretrain_byol')
    # the default keeps the records of earlier runs valid
    default = _options('--methods', 'soco')
    assert default.proposals == 'ss'
    assert 'proposals' not in run_demo.stage_params(default, 'pretrain_soco')
    assert run_demo.proposal_options(default, 'soco') == []
    with pytest.raises(run_demo.DemoError, match='another --work-dir'):
        run_demo.check_params(opts, 'pretrain_soco',
                              dict(done=True, params=dict(tiny=False)))


def test_cli_file_runs_the_package_demo():
    """tools/demo/run_demo.py is the command line of mmalfm.apis.demo: its
    options, and a bad one fails with exit status 1 and the fix."""
    usage = run_tool([PYTHON, 'tools/demo/run_demo.py', '--help']).stdout
    for option in ('--methods', '--work-dir', '--data', '--label-fraction',
                   '--finetune-iters', '--seed', '--finetune-seeds',
                   '--tiny', '--nproc', '--quiet', '--in-process',
                   '--proposals', '--proposal-checkpoint'):
        assert f'[{option}' in usage, option
    proc = run_tool([PYTHON, 'tools/demo/run_demo.py', '--methods',
                     'simclr'], check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1].startswith(
        '[demo] error: --methods simclr: not a method (soco, alfm, crosscl, '
        'dupr, byol')
