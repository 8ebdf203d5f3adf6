# Copyright (c) mmalfm contributors. All rights reserved.
"""The demo's plan: its stages for the options, in order."""
import os.path as osp
from typing import Callable, List

from .options import TRAIN_ANN, VAL_ANN, DemoOptions, needs_proposals
from .paths import (export_path, finetune_dir, last_checkpoint,
                    metrics_path, pretrain_dir, probe_path, run_key,
                    subset_path)
from .records import Stage
from .report import write_report
from .stages import (stage_data, stage_evaluate, stage_export,
                     stage_finetune, stage_labels, stage_pretrain,
                     stage_probe, stage_proposals)


def build_plan(opts: DemoOptions) -> List[Stage]:
    """The stages for ``opts``, in order."""
    plan = [
        Stage('data', 'demo data', stage_data,
              lambda o: [osp.join(o.coco, TRAIN_ANN),
                         osp.join(o.coco, VAL_ANN)])
    ]
    if any(needs_proposals(opts, m) for m in opts.methods):
        plan.append(
            Stage('proposals', 'detector proposals' if opts.proposals ==
                  'detector' else 'selective-search proposals',
                  stage_proposals, lambda o: [o.proposal_file]))
    for method in opts.methods:
        plan.append(
            Stage(f'pretrain_{method}', f'pretrain {method}',
                  _bind(stage_pretrain, method),
                  _bind(lambda o, m: [last_checkpoint(pretrain_dir(o, m))],
                        method)))
    for method in opts.methods:
        plan.append(
            Stage(f'export_{method}', f'export {method}',
                  _bind(stage_export, method),
                  _bind(lambda o, m: [export_path(o, m)], method)))
    for init in opts.inits:
        plan.append(
            Stage(f'probe_{init}', f'region probe of {init}',
                  _bind(stage_probe, init),
                  _bind(lambda o, i: [probe_path(o, i)], init)))
    plan.append(
        Stage('labels', f'labelled subset ({opts.label_fraction:g})',
              stage_labels, lambda o: [subset_path(o)]))
    runs = [(init, seed) for init in opts.inits
            for seed in range(opts.finetune_seeds)]
    for init, seed in runs:
        key, tag = run_key(init, seed), f' (seed {seed})' if seed else ''
        plan.append(
            Stage(f'finetune_{key}', f'fine-tune from {init}{tag}',
                  _bind(stage_finetune, (init, seed)),
                  _bind(lambda o, i, s:
                        [last_checkpoint(finetune_dir(o, i, s))],
                        (init, seed))))
    for init, seed in runs:
        key, tag = run_key(init, seed), f' (seed {seed})' if seed else ''
        plan.append(
            Stage(f'evaluate_{key}', f'evaluate {init}{tag}',
                  _bind(stage_evaluate, (init, seed)),
                  _bind(lambda o, i, s: [metrics_path(o, i, s)],
                        (init, seed))))
    # the report is cheap and always rewritten from the records
    plan.append(Stage('report', 'report', stage_report))
    return plan


def _bind(func: Callable, key) -> Callable:
    """``func(opts, key)``, or ``func(opts, *key)`` for a tuple key."""
    args = key if isinstance(key, tuple) else (key, )
    return lambda opts: func(opts, *args)


def stage_report(opts: DemoOptions) -> dict:
    """``report.md`` and the plots, from the stage records and logs."""
    path = write_report(opts, build_plan(opts))
    return dict(file=path)
