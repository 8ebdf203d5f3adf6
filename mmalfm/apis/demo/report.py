# Copyright (c) mmalfm contributors. All rights reserved.
"""The demo's ``report.md`` and plots, from the stage records and the runs'
logs; the seed statistics and the region probe's paired differences."""
import glob
import json
import math
import os
import os.path as osp
import platform
import statistics
import time
from collections import OrderedDict
from typing import List, Optional, Sequence, Tuple

from .options import AP_KEYS, BASELINE, DETECTOR, RANDOM, REPO, DemoOptions
from .paths import finetune_dir, pretrain_dir, run_key
from .records import Stage, format_seconds, load_record, pinned_env


def scalar_rows(work_dir: str) -> List[dict]:
    """All rows of the run's ``*/vis_data/scalars.json`` files (several when
    resumed), oldest run first; for a step logged twice (a resumed run
    repeats it) the later row wins."""
    rows = []
    for path in sorted(
            glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def loss_curve(work_dir: str) -> Tuple[List[int], List[float]]:
    """``(iterations, total loss)`` of the training logs."""
    by_step = OrderedDict()
    for row in scalar_rows(work_dir):
        if 'loss' in row and 'step' in row:
            by_step[int(row['step'])] = float(row['loss'])
    steps = sorted(by_step)
    return steps, [by_step[s] for s in steps]


def final_metrics(work_dir: str) -> Optional[dict]:
    """The last COCO evaluation logged by the run, or None."""
    found = None
    for row in scalar_rows(work_dir):
        if AP_KEYS[0] in row:
            found = row
    return found


def collect_results(opts: DemoOptions) -> List[dict]:
    """One row per fine-tuning run (random init first)."""
    rows = []
    for init in opts.inits:
        ev = load_record(opts, f'evaluate_{init}')
        ft = load_record(opts, f'finetune_{init}')
        pre = load_record(opts, f'pretrain_{init}') if init != RANDOM else {}
        metrics = ev.get('metrics', {}) if ev.get('done') else {}
        rows.append(
            dict(init=init,
                 config=pre.get('config', ''),
                 ap=100 * metrics[AP_KEYS[0]] if metrics else None,
                 ap50=100 * metrics[AP_KEYS[1]] if metrics else None,
                 ap75=(100 * metrics[AP_KEYS[2]]
                       if AP_KEYS[2] in metrics else None),
                 pretrain_s=pre.get('seconds') if pre.get('done') else None,
                 finetune_s=ft.get('seconds') if ft.get('done') else None,
                 iterations=ft.get('iterations')))
    return rows


def seed_summary(opts: DemoOptions) -> List[dict]:
    """Per init, the final AP (%) of every finished fine-tuning seed, their
    mean and sample standard deviation (None below two seeds)."""
    rows = []
    for init in opts.inits:
        values = []
        for seed in range(opts.finetune_seeds):
            record = load_record(opts, f'evaluate_{run_key(init, seed)}')
            if record.get('done'):
                values.append(100 * record['metrics'][AP_KEYS[0]])
        mean = sum(values) / len(values) if values else None
        std = (math.sqrt(sum((v - mean)**2 for v in values) /
                         (len(values) - 1)) if len(values) > 1 else None)
        rows.append(dict(init=init, values=values, mean=mean, std=std))
    return rows


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test of the means of ``a`` and ``b``
    (at least 2 values each; 0 when both have no spread but differ, 1
    when they are equal)."""
    from scipy import stats
    if statistics.variance(a) == 0 and statistics.variance(b) == 0:
        return 1.0 if statistics.mean(a) == statistics.mean(b) else 0.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def seed_lines(opts: DemoOptions) -> List[str]:
    """The report's fine-tuning-over-seeds section (only with several
    seeds)."""
    if opts.finetune_seeds < 2:
        return []
    rows = seed_summary(opts)
    base = rows[0]
    lines = ['## Fine-tuning over seeds', '']
    last = opts.finetune_seeds - 1
    lines.append(f'The same fine-tuning with seeds 0..{last}'
                 ' (`randomness.seed`; 0 is the config\'s, the table above)'
                 '; AP<sup>bb</sup> in %.')
    lines.append('')
    lines.append('| init | AP<sup>bb</sup> mean ± std (n) | per seed | '
                 'Δ mean vs random |')
    lines.append('|---|---|---|---|')
    for row in rows:
        if row['mean'] is None:
            continue
        n = len(row['values'])
        spread = f' ± {row["std"]:.1f}' if row['std'] is not None else ''
        delta = '—'
        if row is not base and base['mean'] is not None:
            diff = row['mean'] - base['mean']
            delta = f'{diff:+.1f}'
            if row['std'] is not None and base['std'] is not None:
                p = welch_p(row['values'], base['values'])
                delta += (f' (p = {p:.2f}, ' +
                          ('beyond noise)' if p < 0.05 else 'within noise)'))
        name = 'random init' if row['init'] == RANDOM else row['init']
        lines.append(f'| {name} | {row["mean"]:.1f}{spread} ({n}) | ' +
                     ' / '.join(f'{v:.1f}' for v in row['values']) +
                     f' | {delta} |')
    lines.append('')
    lines.append('p is the two-sided p-value of Welch\'s t-test of the '
                 'two inits\' seeds; a difference is "beyond noise" at '
                 'p < 0.05. With 2 seeds each only a difference of several '
                 'standard deviations gets there: the t-test accounts for '
                 'how poorly 2 seeds estimate their spread.')
    lines.append('')
    return lines


def collect_probes(opts: DemoOptions) -> List[dict]:
    """One row per init with a finished probe (random init first)."""
    rows = []
    for init in opts.inits:
        record = load_record(opts, f'probe_{init}')
        if record.get('done'):
            rows.append(dict(record, init=init))
    return rows


def paired_delta(row: dict, base: dict, key: str) -> str:
    """``'+d ± se (beyond|within noise)'``: the accuracy difference of two
    probes on the same boxes with its paired standard error
    (:func:`mmalfm.evaluation.region_probe.paired_difference`)."""
    from mmalfm.evaluation.region_probe import paired_difference
    a, b = row.get(key), base.get(key)
    if not a or not b or len(a) != len(b):
        return '—'
    diff, se = paired_difference(a, b)
    verdict = 'beyond noise' if abs(diff) > 2 * se else 'within noise'
    return f'{diff:+.1f} ± {se:.1f} ({verdict})'


def probe_lines(opts: DemoOptions) -> List[str]:
    """The report's region-probe section (empty without probes)."""
    rows = collect_probes(opts)
    if not rows:
        return []
    base = rows[0] if rows[0]['init'] == RANDOM else None
    lines = ['## Region probe', '']
    lines.append(
        'Frozen backbone features (C2-C5) of the ground-truth boxes '
        '(RoIAlign 7x7 at the level the detector assigns), closed-form '
        'linear classifier, kNN and a linear box-refinement probe '
        '(`tools/analysis/region_probe.py`, docs/user_guides/region_probe.md'
        '). Deterministic: the same numbers on every run on this machine.')
    lines.append('')
    lines.append(
        f'Accuracies by {rows[0].get("cv_folds")}-fold cross-validation over '
        f'the {rows[0].get("cv_num_boxes")} boxes of the train and val '
        'images (the boxes of an image are predicted by a probe fitted '
        'without that image). Δ vs random init is paired: the same boxes, '
        'so its standard error is that of the per-box difference; "beyond '
        'noise" means more than twice it (about 95 %). The last columns '
        'are the plain train / val split.')
    lines.append('')
    lines.append('| init | linear acc. (%) | kNN acc. (%) | Δ linear vs '
                 'random | Δ kNN vs random | linear, val split (%) | '
                 'box IoU refined |')
    lines.append('|---|---|---|---|---|---|---|')
    for row in rows:
        deltas = ['—', '—']
        if base is not None and row is not base:
            deltas = [paired_delta(row, base, f'cv_{kind}_correct')
                      for kind in ('linear', 'knn')]
        name = 'random init' if row['init'] == RANDOM else row['init']
        lines.append(
            f'| {name} | {_fmt(row.get("cv_linear_acc"))} | '
            f'{_fmt(row.get("cv_knn_acc"))} | {deltas[0]} | {deltas[1]} | '
            f'{_fmt(row.get("linear_acc"))} | '
            f'{_fmt(row.get("box_iou_refined"), 3)} |')
    lines.append('')
    return lines


def _fmt(value: Optional[float], digits: int = 1) -> str:
    return '—' if value is None else f'{value:.{digits}f}'


def _fmt_time(seconds: Optional[float]) -> str:
    return '—' if seconds is None else format_seconds(seconds)


def write_report(opts: DemoOptions, plan: Sequence[Stage]) -> str:
    """Write ``report.md`` and the PNG plots; return the report's path.

    Args:
        opts (DemoOptions): The run.
        plan (Sequence[Stage]): Its stages (the table of stage times).
    """
    os.makedirs(opts.work_dir, exist_ok=True)
    rows = collect_results(opts)
    plots = draw_plots(opts, rows)
    data = load_record(opts, 'data')
    labels = load_record(opts, 'labels')
    finetune = next((load_record(opts, f'finetune_{i}') for i in opts.inits
                     if load_record(opts, f'finetune_{i}').get('done')), {})
    random_ap = rows[0]['ap']

    lines = ['# mmalfm demo report', '']
    lines.append(
        f'Generated {time.strftime("%Y-%m-%d %H:%M:%S %Z")} by '
        '`tools/demo/run_demo.py` on '
        f'{platform.node() or "this machine"} ({os.cpu_count()} CPU cores, '
        f'{platform.processor() or platform.machine()}). '
        'Every number below is measured in this work dir\'s run(s); times '
        'are wall times including tool start-up (summed over interrupted '
        'attempts).')
    lines.append('')
    pins = pinned_env()
    lines.append(
        ('* CPU numerics (in-process run: the tools ran in this process, '
         'whose settings were: ' if opts.in_process else
         '* CPU numerics: every tool ran with ')
        + ', '.join(f'`{k}={pins[k]}`' for k in (
            'OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'ATEN_CPU_CAPABILITY',
            'ONEDNN_MAX_CPU_ISA', 'MKL_CBWR'))
        + ' (thread count and kernel ISA change the rounding, and a '
        'fine-tune\'s AP with it; see docs/user_guides/demo.md)')
    lines.append('')
    lines.append(
        f'* data: `{repo_relative(opts.data)}`, '
        f'{data.get("num_train", "?")} train / '
        f'{data.get("num_val", "?")} val images (4 shape classes)'
        + (' — **tiny variant**' if opts.tiny else ''))
    lines.append(
        f'* fine-tuning labels: {opts.label_fraction:g} of the train images '
        f'({labels.get("num_images", "?")} images, '
        f'{labels.get("num_boxes", "?")} boxes, subset seed {opts.seed})')
    lines.append(
        f'* detector: `{DETECTOR}` (random init: its `_random-init` twin), '
        f'{finetune.get("epochs", "?")} epochs = '
        f'{finetune.get("iterations", "?")} iterations, evaluated on all '
        'val images (COCO box AP)')
    lines.append('')
    lines.append('| pretraining | AP<sup>bb</sup> | AP<sup>bb</sup><sub>50</sub>'
                 ' | AP<sup>bb</sup><sub>75</sub> | Δ AP<sup>bb</sup> vs random'
                 ' | pretraining time | fine-tune time | config |')
    lines.append('|---|---|---|---|---|---|---|---|')
    for row in rows:
        delta = (None if row['ap'] is None or random_ap is None
                 or row['init'] == RANDOM else row['ap'] - random_ap)
        delta_s = '—' if delta is None else f'{delta:+.1f}'
        config = f'`{row["config"]}`' if row['config'] else '—'
        name = 'random init' if row['init'] == RANDOM else row['init']
        if row['init'] == BASELINE:
            name += ' (baseline)'
        lines.append(
            f'| {name} | {_fmt(row["ap"])} | {_fmt(row["ap50"])} | '
            f'{_fmt(row["ap75"])} | {delta_s} | '
            f'{_fmt_time(row["pretrain_s"]) if row["init"] != RANDOM else "—"}'
            f' | {_fmt_time(row["finetune_s"])} | {config} |')
    lines.append('')
    more = ('read the seeds table below' if opts.finetune_seeds > 1 else
            'run several with `--finetune-seeds`')
    lines.append('Fine-tune time includes the final evaluation on the val '
                 'images. This table is the config\'s seed (0) alone: with '
                 f'{labels.get("num_images", "?")} labelled images one seed '
                 f'is not a ranking; {more} '
                 '(`tools/benchmarks/run_seeds.py` for the full-scale '
                 'benchmarks).')
    lines.append('')
    lines += seed_lines(opts)
    lines += probe_lines(opts)
    lines.append('## Plots')
    lines.append('')
    for title, name in plots:
        lines.append(f'![{title}]({name})')
        lines.append('')
    lines.append('## Stages')
    lines.append('')
    lines.append('| stage | wall time | attempts |')
    lines.append('|---|---|---|')
    total = 0.0
    for stage in plan:
        if stage.name == 'report':
            continue
        record = load_record(opts, stage.name)
        seconds = record.get('seconds') if record.get('done') else None
        total += seconds or 0
        lines.append(f'| {stage.title} | {_fmt_time(seconds)} | '
                     f'{len(record.get("attempts", []))} |')
    lines.append(f'| **total** | **{format_seconds(total)}** | |')
    lines.append('')
    lines.append('## How to read this')
    lines.append('')
    lines.append(
        '* AP<sup>bb</sup> is COCO box AP (IoU 0.50:0.95), AP50 at IoU 0.5, '
        'in percent, of the same detector fine-tuned with the same labels '
        'and schedule; only the initialisation differs. "Δ vs random" is '
        'what pretraining bought over random init.')
    lines.append(
        '* BYOL is the image-level baseline (same backbone, same views); a '
        'region-level method is worth its cost if it beats BYOL.')
    lines.append(
        '* Pretraining loss curves are each method\'s own objective (their '
        'scales differ; look at the trend). See '
        '`docs/user_guides/demo.md`.')
    lines.append('')
    lines.append('Work dirs: `pretrain/<method>/`, `export/`, `labels/`, '
                 '`finetune/<init>/` (config dump, logs, checkpoints), '
                 '`logs/<stage>.log`, `stages/<stage>.json`.')
    path = osp.join(opts.work_dir, 'report.md')
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def repo_relative(path: str) -> str:
    """``path`` relative to the checkout when it is inside it, else as
    given."""
    rel = osp.relpath(path, REPO)
    return path if rel.startswith('..') else rel


def draw_plots(opts: DemoOptions, rows: List[dict]) -> List[Tuple[str, str]]:
    """``loss_pretrain.png``, ``loss_finetune.png``, ``ap.png`` in the work
    dir; returns ``(title, file name)`` of each."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    out = []
    # pretraining losses: one panel per method (objectives differ)
    curves = [(m, loss_curve(pretrain_dir(opts, m))) for m in opts.methods]
    fig, axes = plt.subplots(
        1, len(curves), figsize=(3.2 * len(curves), 2.8), squeeze=False)
    for ax, (method, (steps, losses)) in zip(axes[0], curves):
        ax.plot(steps, losses, marker='.' if len(steps) < 20 else None)
        ax.set_title(method)
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel('pretraining loss')
    fig.tight_layout()
    fig.savefig(osp.join(opts.work_dir, 'loss_pretrain.png'), dpi=100)
    plt.close(fig)
    out.append(('pretraining loss per method', 'loss_pretrain.png'))

    # fine-tuning losses: same detector and loss, one axes
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for init in opts.inits:
        steps, losses = loss_curve(finetune_dir(opts, init))
        ax.plot(steps, losses, label=init,
                marker='.' if len(steps) < 20 else None)
    ax.set_xlabel('iteration')
    ax.set_ylabel('detector loss')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(osp.join(opts.work_dir, 'loss_finetune.png'), dpi=100)
    plt.close(fig)
    out.append(('fine-tuning loss per initialisation', 'loss_finetune.png'))

    # AP bars
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(rows), 3.2))
    width = 0.4
    xs = list(range(len(rows)))
    for offset, key, label in ((-width / 2, 'ap', 'AP'),
                               (width / 2, 'ap50', 'AP50')):
        values = [r[key] or 0.0 for r in rows]
        bars = ax.bar([x + offset for x in xs], values, width, label=label)
        for bar, value in zip(bars, values):
            ax.annotate(f'{value:.1f}', (bar.get_x() + bar.get_width() / 2,
                                         bar.get_height()),
                        ha='center', va='bottom', fontsize=7)
    ax.set_xticks(xs)
    ax.set_xticklabels([r['init'] for r in rows])
    ax.set_ylabel('box AP (%)')
    ax.legend()
    fig.tight_layout()
    fig.savefig(osp.join(opts.work_dir, 'ap.png'), dpi=100)
    plt.close(fig)
    out.append(('box AP per initialisation', 'ap.png'))
    return out
