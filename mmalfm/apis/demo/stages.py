# Copyright (c) mmalfm contributors. All rights reserved.
"""The demo's stages: ``stage_<name>(opts, ...) -> dict``, each running one
tool (:func:`~.records.run_tool`) and returning what its record keeps."""
import json
import math
import os
import os.path as osp

from .options import (AP_KEYS, DETECTOR, DETECTOR_RANDOM,
                      DETECTOR_SCORE_THR, PROBE_FOLDS, RANDOM, TINY_DATA,
                      TRAIN_ANN, VAL_ANN, DemoError, DemoOptions,
                      export_flags, pretrain_config)
from .overrides import (eval_options, finetune_options, load_config,
                        pretrain_options, proposal_options)
from .paths import (export_path, finetune_dir, last_checkpoint,
                    metrics_path, pretrain_dir, probe_path, run_key,
                    subset_path)
from .records import in_process_options, load_record, run_tool
from .report import final_metrics


def stage_data(opts: DemoOptions) -> dict:
    """Generate the demo data unless both annotation files exist."""
    anns = [osp.join(opts.coco, TRAIN_ANN), osp.join(opts.coco, VAL_ANN)]
    if not all(osp.isfile(a) for a in anns):
        args = [opts.data]
        if opts.tiny:
            for key, value in TINY_DATA.items():
                args += [f'--{key.replace("_", "-")}', str(value)]
        run_tool(opts, 'data', 'make_demo_data', *args)
    with open(anns[0]) as f:
        train = json.load(f)
    with open(anns[1]) as f:
        val = json.load(f)
    return dict(num_train=len(train['images']), num_val=len(val['images']),
                num_train_boxes=len(train['annotations']))


def stage_proposals(opts: DemoOptions) -> dict:
    """Selective search over the train images (the tool is resumable), or
    the demo detector's boxes with ``--proposals detector``."""
    out = opts.proposal_file
    if opts.proposals == 'detector':
        if not osp.isfile(out):
            run_tool(opts, 'proposals', 'detector_proposals', DETECTOR,
                     opts.proposal_checkpoint,
                     osp.join(opts.coco, TRAIN_ANN), out, '--img-prefix',
                     osp.join(opts.coco, 'train2017'), '--score-thr',
                     DETECTOR_SCORE_THR)
        return dict(file=out, checkpoint=opts.proposal_checkpoint)
    if not osp.isfile(out):
        run_tool(opts, 'proposals', 'selective_search',
                 osp.join(opts.coco, TRAIN_ANN), out, '--img-prefix',
                 osp.join(opts.coco, 'train2017'), '--nproc', opts.nproc)
    return dict(file=out)


def stage_pretrain(opts: DemoOptions, method: str) -> dict:
    """``tools/train.py`` on the method's demo config (``--resume`` when its
    work dir has a checkpoint)."""
    config = pretrain_config(opts, method)
    work_dir = pretrain_dir(opts, method)
    args = [config, '--work-dir', work_dir]
    if last_checkpoint(work_dir):
        args.append('--resume')
    cfg = load_config(config)
    options = pretrain_options(opts, cfg) + proposal_options(opts, method)
    if opts.in_process:
        options += in_process_options(f'pretrain_{method}', cfg)
    if options:
        args += ['--cfg-options', *options]
    run_tool(opts, f'pretrain_{method}', 'train', *args)
    checkpoint = last_checkpoint(work_dir)
    if not checkpoint:
        raise DemoError(f'{work_dir}: training finished without a '
                        'checkpoint (last_checkpoint missing)')
    return dict(config=config, checkpoint=checkpoint)


def stage_export(opts: DemoOptions, method: str) -> dict:
    """Export the online network for the demo detector, checked against
    it."""
    checkpoint = last_checkpoint(pretrain_dir(opts, method))
    if not checkpoint:
        raise DemoError(f'export {method}: no checkpoint in '
                        f'{pretrain_dir(opts, method)} (pretrain first)')
    out = export_path(opts, method)
    os.makedirs(osp.dirname(out), exist_ok=True)
    flags = export_flags(method)
    run_tool(opts, f'export_{method}', 'export', checkpoint, out, *flags,
             '--check', DETECTOR)
    if not osp.isfile(out):
        raise DemoError(f'export {method}: {out} was not written')
    return dict(checkpoint=checkpoint, export=out, flags=list(flags))


def stage_probe(opts: DemoOptions, init: str) -> dict:
    """The region probe (docs/user_guides/region_probe.md) of ``init``'s
    export, or of the detector's random init: frozen backbone features of
    the ground-truth boxes, linear / kNN / box probes. Deterministic and
    seconds long, so it runs for every init."""
    target = RANDOM if init == RANDOM else export_path(opts, init)
    if init != RANDOM and not osp.isfile(target):
        raise DemoError(f'probe {init}: no export {target} (run the '
                        f'export_{init} stage)')
    out = probe_path(opts, init)
    os.makedirs(osp.dirname(out), exist_ok=True)
    # Backbone features for every init: what all methods pretrain, so the
    # rows compare like with like (an FPN export would otherwise be probed
    # on P2-P5 and random init on C2-C5).
    run_tool(opts, f'probe_{init}', 'region_probe', target, '--config',
             DETECTOR, '--data-root', opts.data, '--features', 'backbone',
             '--folds', PROBE_FOLDS, '--threads', '1', '--json', out)
    with open(out) as f:
        result = json.load(f)
    keys = ('linear_acc', 'linear_mean_class_acc', 'knn_acc',
            'box_iou_refined', 'num_val_boxes', 'features', 'cv_folds',
            'cv_num_boxes', 'cv_linear_acc', 'cv_knn_acc',
            'cv_linear_correct', 'cv_knn_correct', 'features_sha256')
    return {k: result.get(k) for k in keys}


def stage_labels(opts: DemoOptions) -> dict:
    """The labelled subset the detectors fine-tune on."""
    out = subset_path(opts)
    run_tool(opts, 'labels', 'make_coco_subset',
             osp.join(opts.coco, TRAIN_ANN), out, '--percent',
             f'{opts.label_fraction * 100:g}', '--seed', opts.seed)
    with open(out) as f:
        subset = json.load(f)
    return dict(file=out, num_images=len(subset['images']),
                num_boxes=len(subset['annotations']))


def stage_finetune(opts: DemoOptions, init: str, seed: int = 0) -> dict:
    """The demo detector from ``init`` on the labelled subset, evaluated on
    the val images at the end."""
    config = DETECTOR_RANDOM if init == RANDOM else DETECTOR
    work_dir = finetune_dir(opts, init, seed)
    key = run_key(init, seed)
    num_images = load_record(opts, 'labels').get('num_images')
    if not num_images:
        with open(subset_path(opts)) as f:
            num_images = len(json.load(f)['images'])
    cfg = load_config(config)
    options = finetune_options(opts, cfg, num_images)
    if init != RANDOM:
        export = export_path(opts, init)
        if not osp.isfile(export):
            raise DemoError(f'fine-tune {init}: no export {export} (run the '
                            f'export_{init} stage)')
        options.append(f'model.init_cfg.checkpoint={export}')
    if seed:
        options.append(f'randomness.seed={seed}')
    args = [config, '--work-dir', work_dir]
    if last_checkpoint(work_dir):
        args.append('--resume')
    if opts.in_process:
        options += in_process_options(f'finetune_{key}', cfg)
    run_tool(opts, f'finetune_{key}', 'train', *args, '--cfg-options',
             *options)
    epochs = int(next(o for o in options if o.startswith(
        'train_cfg.max_epochs=')).split('=')[1])
    return dict(config=config, epochs=epochs, seed=seed,
                iterations=epochs * math.ceil(
                    num_images / (4 if opts.tiny else
                                  cfg.train_dataloader.batch_size)),
                checkpoint=last_checkpoint(work_dir))


def stage_evaluate(opts: DemoOptions, init: str, seed: int = 0) -> dict:
    """The final evaluation of the fine-tuned detector: from the run's own
    validation, or ``tools/test.py`` on its last checkpoint when the run was
    interrupted between its last checkpoint and that validation."""
    work_dir = finetune_dir(opts, init, seed)
    key = run_key(init, seed)
    metrics = final_metrics(work_dir)
    source = 'validation at the end of fine-tuning'
    if metrics is None:
        config = DETECTOR_RANDOM if init == RANDOM else DETECTOR
        checkpoint = last_checkpoint(work_dir)
        if not checkpoint:
            raise DemoError(f'evaluate {init}: no checkpoint in {work_dir}')
        out = osp.join(work_dir, 'test_metrics.json')
        args = [config, checkpoint, '--work-dir',
                osp.join(work_dir, 'test'), '--out', out]
        cfg = load_config(config)
        options = eval_options(opts, cfg)
        if opts.in_process:
            options += in_process_options(f'evaluate_{key}', cfg)
        if options:
            args += ['--cfg-options', *options]
        run_tool(opts, f'evaluate_{key}', 'test', *args)
        with open(out) as f:
            metrics = json.load(f)
        source = f'tools/test.py {osp.relpath(checkpoint, opts.work_dir)}'
    metrics = {k: float(metrics[k]) for k in AP_KEYS if k in metrics}
    if AP_KEYS[0] not in metrics:
        raise DemoError(f'evaluate {init}: no {AP_KEYS[0]} in the '
                        f'evaluation of {work_dir}')
    out = metrics_path(opts, init, seed)
    with open(out, 'w') as f:
        json.dump(dict(metrics=metrics, source=source), f, indent=1)
    return dict(metrics=metrics, source=source)
