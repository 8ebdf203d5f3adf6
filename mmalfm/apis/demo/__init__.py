# Copyright (c) mmalfm contributors. All rights reserved.
"""The end-to-end CPU demo: what region-level pretraining buys a detector.

    python tools/demo/run_demo.py [--methods alfm [soco ... CONFIG.py]] \
        [--work-dir work_dirs/demo] [--data data/demo] \
        [--label-fraction 0.25] [--finetune-iters 300] [--finetune-seeds 2] \
        [--tiny]

Stages (one progress line each, with the elapsed time; the tools' own logs
stream in between):

1. ``data``: the generated demo data set (``tools/data/make_demo_data.py``),
   kept if it exists;
2. ``proposals``: selective-search proposals for the methods whose config
   trains on them (a ``ProposalDataset``, or a region sampler with
   ``needs_proposals``: SoCo, ALFM; ``tools/data/selective_search.py``), or
   with ``--proposals
   detector --proposal-checkpoint PATH`` the boxes of a trained demo
   detector (``tools/data/detector_proposals.py``);
3. ``pretrain <m>``: ``tools/train.py`` on the method's demo config (the
   entry of ``configs/<m>/metafile.yml`` marked ``Demo: true``, or the config
   given instead of a name; every one uses the demo backbone "r18q"); the
   BYOL baseline always runs alongside;
4. ``export <m>``: ``tools/model_converters/export_to_mmdet.py ... --check
   DETECTOR`` with the export flags the method's transfer declaration gives
   (backbone + FPN + box head for SoCo / ALFM, backbone otherwise);
5. ``labels``: a ``--label-fraction`` subset of the train annotations
   (``tools/data/make_coco_subset.py``);
6. ``finetune <init>``: the demo Faster R-CNN from each export and from random
   init, same config, same labelled subset, same schedule, evaluated (COCO
   box AP on the demo val images) at the end;
7. ``evaluate <init>``: reads that evaluation (``tools/test.py`` on the final
   checkpoint when the run was interrupted after training);
8. ``report``: ``WORK_DIR/report.md`` with the table (AP^bb, AP50, times), the
   stage times and the plots ``loss_pretrain.png``, ``loss_finetune.png``,
   ``ap.png``.

Resumable: every stage records itself in ``WORK_DIR/stages/<stage>.json``
when it finishes (and checks its outputs); a re-run skips finished stages and
continues training stages with ``--resume`` from the work dir's
``last_checkpoint``. Times in the report are the wall times of the stages as
measured in the run(s) that produced them (summed over interrupted attempts).

Modules, one job each: :mod:`.options` (command line, options, the methods'
configs and the pieces of the checkout), :mod:`.paths` (where stages
write), :mod:`.records` (stage records, progress, running the tools),
:mod:`.overrides` (the runs' ``--cfg-options``), :mod:`.stages` (the stage
functions), :mod:`.plan` (the stages in order), :mod:`.report`
(``report.md`` and plots), :mod:`.runner` (:func:`run_demo`, :func:`main`).
The demo runs in a source checkout (its ``configs/`` and ``tools/``).
"""
from . import options, overrides, paths, plan, records, report, stages
from .options import (AP_KEYS, BASELINE, DEMO_THREADS, DETECTOR,
                      DETECTOR_RANDOM, FINETUNE_ITERS, FINETUNE_SEEDS,
                      RANDOM, REPO, TOOL_MODULES, TOOLS, DemoError,
                      DemoOptions, check_pieces, export_flags, find_config,
                      make_options, needs_proposals, parse_args,
                      pretrain_config, resolve_methods)
from .overrides import (data_options, finetune_options, load_config,
                        proposal_options, rebase_options)
from .paths import (export_path, finetune_dir, last_checkpoint,
                    metrics_path, pretrain_dir, probe_path, run_key,
                    subset_path)
from .plan import build_plan
from .records import (Progress, Stage, check_params, format_seconds,
                      load_record, pinned_env, run_stage, run_tool,
                      save_record, stage_params)
from .report import (paired_delta, seed_lines, seed_summary, welch_p,
                     write_report)
from .runner import main, run_demo
from .stages import stage_proposals

__all__ = [
    'options', 'overrides', 'paths', 'plan', 'records', 'report', 'stages',
    'AP_KEYS', 'BASELINE', 'DEMO_THREADS', 'DETECTOR', 'DETECTOR_RANDOM',
    'FINETUNE_ITERS', 'FINETUNE_SEEDS', 'RANDOM', 'REPO', 'TOOL_MODULES',
    'TOOLS',
    'DemoError', 'DemoOptions', 'check_pieces', 'export_flags',
    'find_config', 'make_options', 'needs_proposals', 'parse_args',
    'pretrain_config', 'resolve_methods', 'data_options',
    'finetune_options', 'load_config', 'proposal_options', 'rebase_options',
    'export_path', 'finetune_dir', 'last_checkpoint', 'metrics_path',
    'pretrain_dir', 'probe_path', 'run_key', 'subset_path', 'build_plan',
    'Progress', 'Stage', 'check_params', 'format_seconds', 'load_record',
    'pinned_env', 'run_stage', 'run_tool', 'save_record', 'stage_params',
    'paired_delta', 'seed_lines', 'seed_summary', 'welch_p', 'write_report',
    'main', 'run_demo', 'stage_proposals'
]
