# Copyright (c) mmalfm contributors. All rights reserved.
"""Stage records (``WORK_DIR/stages/<stage>.json``), the progress lines and
running the tools: a logged subprocess with pinned CPU numerics, or the
tool's package ``main(argv)`` in this process."""
import json
import os
import os.path as osp
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import import_module
from typing import Callable, Dict, List

from mmalfm.utils.cpu_numerics import pinned_cpu_env

from .options import (DEMO_THREADS, REPO, TOOL_MODULES, TOOLS,
                      DemoError, DemoOptions, needs_proposals)
from .paths import record_path


@dataclass
class Stage:
    """One step of the demo.

    Attributes:
        name (str): Unique id (also the record's file name).
        title (str): Progress-line text.
        run (callable): ``run(opts) -> dict`` doing the work; returns what
            the record keeps (outputs, numbers).
        outputs (callable): ``outputs(opts) -> list[str]`` files that must
            exist for a recorded stage to count as done.
    """
    name: str
    title: str
    run: Callable[['DemoOptions'], dict]
    outputs: Callable[['DemoOptions'], List[str]] = lambda opts: []


class Progress:
    """One line per stage event: ``[demo +MM:SS] (k/n) title ...``."""

    def __init__(self, total: int, stream=None) -> None:
        self.start = time.time()
        self.total = total
        self.stream = stream or sys.stdout

    def say(self, index: int, text: str) -> None:
        elapsed = format_seconds(time.time() - self.start)
        prefix = f'[demo +{elapsed}]'
        if index:
            prefix += f' ({index}/{self.total})'
        print(f'{prefix} {text}', file=self.stream, flush=True)


def format_seconds(seconds: float) -> str:
    """``75.4`` -> ``'1:15'``; ``3725`` -> ``'1:02:05'``."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f'{hours}:{minutes:02d}:{secs:02d}'
    return f'{minutes}:{secs:02d}'


def run_command(cmd: List[str], log_file: str, quiet: bool = False) -> None:
    """Run ``cmd`` from the repository root, streaming its output to
    ``log_file`` (appended) and, unless ``quiet``, to stdout.

    Raises:
        DemoError: Non-zero exit, with the command, the log file and the
            last lines of the output.
    """
    os.makedirs(osp.dirname(log_file), exist_ok=True)
    env = pinned_env()
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (REPO, env.get('PYTHONPATH', '')) if p)
    env.setdefault('PYTHONUNBUFFERED', '1')
    tail: List[str] = []
    with open(log_file, 'a') as log:
        log.write(f'$ {" ".join(cmd)}\n')
        log.flush()
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1)
        try:
            for line in proc.stdout:
                log.write(line)
                tail = (tail + [line])[-40:]
                if not quiet:
                    sys.stdout.write(line)
                    sys.stdout.flush()
            code = proc.wait()
        except BaseException:  # Ctrl-C: stop the tool, keep its state
            proc.terminate()
            proc.wait()
            raise
    if code != 0:
        raise DemoError(
            f'command failed (exit {code}); full output in {log_file}:\n'
            f'  {" ".join(cmd)}\n--- last lines ---\n' + ''.join(tail))


def pinned_env() -> Dict[str, str]:
    """This process's environment with the demo's thread count and kernel
    ISA pinned (explicit user settings win); see
    :mod:`mmalfm.utils.cpu_numerics`."""
    return pinned_cpu_env(DEMO_THREADS)


def tool_command(tool: str, *args: str) -> List[str]:
    return [sys.executable, osp.join(REPO, TOOLS[tool]), *map(str, args)]


def run_tool(opts: 'DemoOptions', stage: str, tool: str, *args) -> None:
    """Run a tool of :data:`TOOLS` with ``args``: a subprocess logged to
    ``WORK_DIR/logs/<stage>.log`` or, with ``opts.in_process``, the
    ``main(argv)`` of its package module (:data:`TOOL_MODULES`) here.

    Raises:
        DemoError: The tool failed (non-zero exit or an exception).
    """
    args = [str(a) for a in args]
    if not opts.in_process:
        run_command(tool_command(tool, *args), log_file(opts, stage),
                    opts.quiet)
        return
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    cwd = os.getcwd()
    os.chdir(REPO)  # the tools resolve config paths from the repo root
    sys.stdout.flush()
    try:
        code = import_module(TOOL_MODULES[tool]).main(args)
    except SystemExit as err:
        code = err.code
    except Exception as err:
        raise DemoError(f'{TOOLS[tool]} {" ".join(args)} failed: '
                        f'{type(err).__name__}: {err}') from err
    finally:
        os.chdir(cwd)
        sys.stdout.flush()
    # an exit status (test.py returns its metrics instead)
    if isinstance(code, str) or (isinstance(code, int) and code != 0):
        raise DemoError(f'{TOOLS[tool]} {" ".join(args)} exited with {code}')


def in_process_options(stage: str, cfg) -> List[str]:
    """Unique MMEngine instance names for an in-process run: MMEngine's
    message hub and visualizer are global singletons by name (the configs
    name the visualizer ``'visualizer'``), so a second run in the same
    process would log into the first run's ``vis_data``."""
    name = f'demo_{stage}_{time.time_ns()}'
    options = [f'experiment_name={name}']
    if cfg.get('visualizer'):
        options.append(f'visualizer.name={name}')
    return options


def log_file(opts: DemoOptions, stage: str) -> str:
    return osp.join(opts.work_dir, 'logs', f'{stage}.log')


def load_record(opts: DemoOptions, stage: str) -> dict:
    path = record_path(opts, stage)
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def save_record(opts: DemoOptions, stage: str, record: dict) -> None:
    path = record_path(opts, stage)
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(record, f, indent=1)
    os.replace(tmp, path)  # atomic: a record is whole or absent


def is_done(opts: DemoOptions, stage: Stage) -> bool:
    """Recorded as done and every output still there."""
    record = load_record(opts, stage.name)
    return bool(record.get('done')) and all(
        p and osp.exists(p) for p in stage.outputs(opts))


#: Stages whose results depend on the fine-tuning options.
FINETUNE_STAGES = ('labels', 'finetune_', 'evaluate_')


def stage_params(opts: DemoOptions, stage: str) -> dict:
    """The options a stage's results depend on (kept in its record)."""
    params = dict(tiny=opts.tiny)
    if opts.proposals != 'ss' and stage in (
            'proposals', *(f'pretrain_{m}' for m in opts.methods
                           if needs_proposals(opts, m))):
        params['proposals'] = opts.proposals
    if stage.startswith(FINETUNE_STAGES):
        params.update(label_fraction=opts.label_fraction, seed=opts.seed,
                      finetune_iters=opts.finetune_iters)
    return params


def check_params(opts: DemoOptions, stage: str, record: dict) -> None:
    """Refuse to mix runs: a stage recorded with other options.

    Raises:
        DemoError: Naming the stage, both settings and the fix.
    """
    params = stage_params(opts, stage)
    if record and record.get('params', params) != params:
        raise DemoError(
            f'{opts.work_dir}: stage {stage} was run with '
            f'{record["params"]}, this run asks for {params}. Use another '
            '--work-dir, or delete the stage\'s outputs and records '
            f'(stages/{stage}.json and its work dir) to redo it.')


def run_stage(opts: DemoOptions, stage: Stage, index: int,
              progress: Progress) -> dict:
    """Run (or skip) one stage; its record accumulates the wall time of
    every attempt, so interrupted-and-resumed stages report their total."""
    record = load_record(opts, stage.name)
    if stage.name == 'report':
        record = {}
    check_params(opts, stage.name, record)
    params = stage_params(opts, stage.name)
    if stage.name != 'report' and is_done(opts, stage):
        progress.say(index, f'{stage.title}: done before '
                     f'({format_seconds(record.get("seconds", 0))}), '
                     'skipped')
        return record
    attempts = list(record.get('attempts', []))
    progress.say(index, f'{stage.title} ...')
    start = time.time()
    try:
        result = stage.run(opts) or {}
    except BaseException:
        attempts.append(round(time.time() - start, 1))
        save_record(opts, stage.name,
                    dict(done=False, attempts=attempts, params=params))
        raise
    attempts.append(round(time.time() - start, 1))
    record = dict(done=True, attempts=attempts,
                  seconds=round(sum(attempts), 1), params=params, **result)
    save_record(opts, stage.name, record)
    progress.say(index, f'{stage.title}: done in '
                 f'{format_seconds(record["seconds"])}')
    return record
