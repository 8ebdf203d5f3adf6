# Copyright (c) mmalfm contributors. All rights reserved.
"""Resume that survives a corrupt checkpoint.

MMEngine's auto-resume (``resume=True, load_from=None``) loads exactly the
file named in ``work_dir/last_checkpoint``: a checkpoint truncated by a killed
write or a full disk makes ``--resume`` fail, and an empty work dir logs
``Auto resumed from the latest checkpoint None.``. Here auto-resume tries the
candidates of :func:`list_resume_candidates` in order, skips (with a warning
naming the file and why) every one that cannot be resumed from, and starts
from scratch, saying so, when none is left. An explicit ``--resume PATH`` is
validated and refused with :class:`CheckpointReadError` naming the file and
the newest readable checkpoint next to it.

Checkpoints are read through :func:`mmalfm.utils.safe_load`
(``weights_only=True`` and mmalfm's allow-list): a checkpoint pickling any
other class raises :class:`UnsafeCheckpointError` and is never unpickled;
auto-resume skips it loudly, an explicit path is refused.

Distributed training assumes a filesystem shared by all ranks (MMEngine
saves checkpoints on rank 0 only, so every rank must see rank 0's files):
:func:`resolve_runner_resume` decides on rank 0 and broadcasts the decision,
so every rank resumes from the same file.
"""
import logging
import os
import os.path as osp
import re
from functools import partial
from typing import Any, List, Optional, Tuple, Union

import torch
from mmengine.config import Config
from mmengine.dist import broadcast_object_list, is_main_process
from mmengine.logging import print_log

from .checkpoint import UnsafeCheckpointError, safe_load

__all__ = [
    'CheckpointReadError', 'list_resume_candidates', 'check_resume_checkpoint',
    'find_resume_checkpoint', 'resolve_resume', 'resolve_runner_resume'
]

LoggerType = Optional[Union[logging.Logger, str]]

#: ``CheckpointHook``'s default names (``epoch_{}.pth``, ``iter_{}.pth``).
_NUMBERED = re.compile(r'^(?:epoch|iter)_(\d+)\.pth$')
#: ``CheckpointHook``'s best-metric checkpoints (``best_{key}_{name}``).
_BEST_PREFIX = 'best_'
_ZIP_MAGIC = b'PK\x03\x04'
#: ``torch.save(..., _use_new_zipfile_serialization=False)``: the pickled
#: (protocol 2) magic number 0x1950a86a20f9469cfc6c.
_LEGACY_MAGIC = b'\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19'


class CheckpointReadError(OSError):
    """A checkpoint cannot be resumed from; the message names the file.

    Args:
        message (str): The full message.
        path (str, optional): The checkpoint.
        reason (str, optional): Why, as a short phrase.
    """

    def __init__(self,
                 message: str,
                 path: Optional[str] = None,
                 reason: Optional[str] = None) -> None:
        # One argument only: OSError formats ``filename``/``errno`` itself.
        super().__init__(message)
        self.path = path
        self.reason = reason


def _log(msg: str, logger: LoggerType, level: int = logging.WARNING) -> None:
    """:func:`print_log` to ``logger`` (the current MMLogger by default)."""
    print_log(msg, logger='current' if logger is None else logger, level=level)


def _is_local(path: str) -> bool:
    """Whether ``path`` is local (not ``s3://...`` and the like)."""
    return '://' not in path


# --------------------------------------------------------------- candidates
def _last_checkpoint(work_dir: str) -> Optional[str]:
    """The path written in ``work_dir/last_checkpoint`` (as written: MMEngine
    writes an absolute one), or ``None`` without that record."""
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return None
    with open(record) as f:
        name = f.read().strip()
    return name or None


def _sort_key(path: str) -> Tuple[int, int, float, str]:
    """Newest first: ``epoch_N``/``iter_N`` by N, then the other files; ties
    by modification time, then by name (so the order is deterministic)."""
    name = osp.basename(path)
    match = _NUMBERED.match(name)
    number = int(match.group(1)) if match else -1
    try:
        mtime = osp.getmtime(path)
    except OSError:  # Removed meanwhile: it is skipped when tried.
        mtime = 0.
    return (0 if match else 1, -number, -mtime, name)


def _checkpoint_files(work_dir: str) -> List[str]:
    """The ``*.pth`` files of ``work_dir`` (not its subfolders), best-metric
    checkpoints excluded."""
    if not osp.isdir(work_dir):
        return []
    return [
        osp.join(work_dir, name) for name in os.listdir(work_dir)
        if name.endswith('.pth') and not name.startswith(_BEST_PREFIX)
        and osp.isfile(osp.join(work_dir, name))
    ]


def _same_file(a: str, b: str) -> bool:
    return _is_local(a) and _is_local(b) and \
        osp.realpath(a) == osp.realpath(b)


def list_resume_candidates(work_dir: str) -> List[str]:
    """The checkpoints auto-resume tries, in order.

    1. The file named in ``work_dir/last_checkpoint`` (whether or not it
       still exists: a missing one is then skipped with a warning).
    2. ``epoch_N.pth`` / ``iter_N.pth``, largest N first.
    3. Every other ``*.pth`` of ``work_dir``, newest first.

    Ties are broken by modification time (newest first), then by name.
    ``best_*.pth`` files are left out: MMEngine saves them without optimizer
    and scheduler state, and they hold the best, not the latest, weights.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        list[str]: Paths, each file once.
    """
    candidates: List[str] = []
    named = _last_checkpoint(work_dir)
    if named is not None:
        candidates.append(named)
    for path in sorted(_checkpoint_files(work_dir), key=_sort_key):
        if not any(_same_file(path, seen) for seen in candidates):
            candidates.append(path)
    return candidates


def _best_checkpoints(work_dir: str) -> List[str]:
    if not osp.isdir(work_dir):
        return []
    return sorted(name for name in os.listdir(work_dir)
                  if name.startswith(_BEST_PREFIX) and name.endswith('.pth'))


# --------------------------------------------------------------- validation
def _unreadable(path: str, reason: str) -> CheckpointReadError:
    return CheckpointReadError(f'{path}: {reason}', path=path, reason=reason)


def _load(path: str) -> Any:
    """Load ``path`` through :func:`safe_load`: memory-mapped (only the
    pickled structure is read, not the tensor bytes) for torch's zip format,
    fully for its legacy format.

    Raises:
        CheckpointReadError: Missing, empty, truncated, damaged, or not a
            torch file.
        UnsafeCheckpointError: It pickles a class outside the allow-list
            (nothing of it was unpickled).
    """
    if not osp.isfile(path):
        raise _unreadable(path, 'does not exist')
    with open(path, 'rb') as f:
        head = f.read(len(_LEGACY_MAGIC))
    if not head:
        raise _unreadable(path, 'is empty (0 bytes; an interrupted write?)')
    if head.startswith(_ZIP_MAGIC):
        loader = partial(torch.load, mmap=True)
    elif head == _LEGACY_MAGIC:
        loader = torch.load
    else:
        raise _unreadable(
            path, 'is not a torch checkpoint (neither a zip archive nor '
            "torch's legacy format)")
    try:
        return safe_load(path, map_location='cpu', loader=loader)
    except UnsafeCheckpointError:
        # Whatever the weights-only unpickler refuses (a class outside the
        # allow-list, or an opcode it does not support) is refused as unsafe.
        raise
    except Exception as err:  # Any other failure to read: not resumable.
        raise _unreadable(path, _read_failure(err))


def _read_failure(err: Exception) -> str:
    """A short reason for a failed read of a (zip or legacy) torch file."""
    first = str(err).split('. ')[0].strip()
    if 'central directory' in first:
        return ('is truncated (its zip archive has no central directory: an '
                'interrupted write or a full disk?)')
    kind = type(err).__qualname__
    if type(err).__module__ != 'builtins':
        kind = f'{type(err).__module__}.{kind}'  # `struct.error`, ...
    what = f'{kind}: {first}' if first else kind
    return f'is damaged or unreadable ({what})'


def _check_contents(path: str, ckpt: Any) -> None:
    """What :meth:`mmengine.runner.Runner.resume` reads must be there.

    Raises:
        CheckpointReadError: ``ckpt`` is not a training checkpoint.
    """
    if not isinstance(ckpt, dict):
        raise _unreadable(path, 'is not a training checkpoint (not a dict)')
    meta = ckpt.get('meta')
    if isinstance(meta, dict) and 'mmalfm_export' in meta:
        raise _unreadable(path,
                          'is an mmalfm export, not a training checkpoint')
    if not (isinstance(meta, dict) and isinstance(meta.get('epoch'), int)
            and isinstance(meta.get('iter'), int)):
        raise _unreadable(
            path, 'is not a training checkpoint (no `meta` with `epoch` and '
            '`iter`)')
    for key in ('state_dict', 'message_hub'):
        if not isinstance(ckpt.get(key), dict):
            raise _unreadable(path,
                              f'is not a training checkpoint (no `{key}`)')
    for key in ('optimizer', 'param_schedulers'):
        if key in ckpt and not isinstance(ckpt[key], (dict, list)):
            raise _unreadable(path, f'has a malformed `{key}`')


def check_resume_checkpoint(path: str) -> None:
    """Whether ``path`` can be resumed from: it loads safely (memory-mapped,
    ``weights_only=True`` with mmalfm's allow-list) and holds what
    :meth:`mmengine.runner.Runner.resume` reads (``meta.epoch``,
    ``meta.iter``, ``state_dict``, ``message_hub``, and a well-formed
    ``optimizer`` / ``param_schedulers`` when present).

    Args:
        path (str): A local checkpoint file.

    Raises:
        CheckpointReadError: It cannot be resumed from (``reason`` says why).
        UnsafeCheckpointError: It pickles a class outside the allow-list;
            nothing of it was unpickled.
    """
    _check_contents(path, _load(path))


# ---------------------------------------------------------------- auto mode
def _pick(candidates: List[str],
          logger: LoggerType,
          quiet: bool = False) -> Tuple[Optional[str], List[str]]:
    """The first candidate that can be resumed from.

    Returns:
        tuple: ``(chosen or None, skipped paths)``.
    """
    skipped: List[str] = []
    for path in candidates:
        if not _is_local(path):
            if not quiet:
                _log(
                    f'Auto-resume: {path} is not a local file and is used '
                    'without validation.', logger, logging.INFO)
            return path, skipped
        try:
            check_resume_checkpoint(path)
        except UnsafeCheckpointError as err:
            skipped.append(path)
            if not quiet:
                _log(
                    f'Auto-resume: skipped {path}: REFUSED as unsafe, '
                    f'nothing of it was unpickled. {err}', logger)
        except CheckpointReadError as err:
            skipped.append(path)
            if not quiet:
                _log(f'Auto-resume: skipped {path}: it {err.reason}.', logger)
        else:
            return path, skipped
    return None, skipped


def _scratch_message(work_dir: str, skipped: List[str]) -> str:
    if not skipped:
        msg = f'no checkpoint found in {work_dir}, starting from scratch.'
    else:
        names = ', '.join(osp.basename(p) for p in skipped)
        msg = (f'no usable checkpoint found in {work_dir} (skipped '
               f'{len(skipped)}: {names}; see the warnings above), starting '
               'from scratch.')
    best = _best_checkpoints(work_dir)
    if best:
        msg += (f' Not tried: {", ".join(best)} (best-metric checkpoints '
                'have no optimizer or scheduler state; pass one with '
                '`--resume PATH` to resume from it anyway).')
    return f'Auto-resume: {msg}'


def find_resume_checkpoint(work_dir: str,
                           logger: LoggerType = None) -> Optional[str]:
    """The checkpoint auto-resume resumes from.

    Tries :func:`list_resume_candidates` in order with
    :func:`check_resume_checkpoint`; each skipped file is logged with the
    reason (a warning; ``REFUSED as unsafe`` for an unsafe one). When none
    is left, warns ``no checkpoint found in <work_dir>, starting from
    scratch`` (``no usable checkpoint ...`` when files were skipped) and
    returns ``None``.

    Args:
        work_dir (str): The run's work dir.
        logger (logging.Logger | str, optional): Where to log; the current
            MMLogger by default.

    Returns:
        str | None: The checkpoint, or ``None`` to start from scratch.
    """
    chosen, skipped = _pick(list_resume_candidates(work_dir), logger)
    if chosen is None:
        _log(_scratch_message(work_dir, skipped), logger)
    elif skipped:
        _log(
            f'Auto-resume: resuming from {chosen} (skipped '
            f'{len(skipped)} file(s), see above).', logger)
    else:
        _log(f'Auto-resume: resuming from {chosen}.', logger, logging.INFO)
    return chosen


# ------------------------------------------------------------ explicit mode
def _older_checkpoint_hint(path: str) -> str:
    """What to do instead of resuming from the unusable ``path``."""
    folder = osp.dirname(osp.abspath(path))
    candidates = [
        p for p in list_resume_candidates(folder)
        if _is_local(p) and not _same_file(p, path)
    ]
    newest, _ = _pick(candidates, logger=None, quiet=True)
    if newest is not None:
        return (f'Pass another checkpoint, e.g. `--resume {newest}` (the '
                f'newest readable checkpoint in {folder}), or `--resume` '
                'without a path to resume from the newest readable '
                'checkpoint of the work dir.')
    return (f'There is no other readable checkpoint in {folder}: pass '
            'another checkpoint, or `--resume` without a path to resume from '
            'the newest readable checkpoint of the work dir (or start from '
            'scratch when it has none).')


def _check_explicit(path: str) -> None:
    """Refuse an explicit ``--resume PATH`` that cannot be resumed from.

    Raises:
        CheckpointReadError: It cannot be read or is not a training
            checkpoint.
        UnsafeCheckpointError: It pickles a class outside the allow-list.
    """
    if not _is_local(path):
        return  # Remote: MMEngine's file backends read it.
    # `from None`: the message says it all; torch's own error (kept as the
    # cause by `check_resume_checkpoint`) would suggest `weights_only=False`.
    try:
        check_resume_checkpoint(path)
    except UnsafeCheckpointError as err:
        raise UnsafeCheckpointError(
            f'Cannot resume from {path}: {err} '
            f'{_older_checkpoint_hint(path)}') from None
    except CheckpointReadError as err:
        raise CheckpointReadError(
            f'Cannot resume from {path}: it {err.reason}. '
            f'{_older_checkpoint_hint(path)}',
            path=path,
            reason=err.reason) from None


# ------------------------------------------------------------------ entries
def _resolve(resume: bool, load_from: Optional[str], work_dir: str,
             logger: LoggerType) -> Tuple[bool, Optional[str]]:
    """``(resume, load_from)`` after auto-resume's choice / the explicit
    path's check; unchanged when not resuming."""
    if not resume:
        return resume, load_from
    if load_from is None:
        load_from = find_resume_checkpoint(work_dir, logger)
        return load_from is not None, load_from
    _check_explicit(load_from)
    return resume, load_from


def resolve_resume(cfg: Config, logger: LoggerType = None) -> Config:
    """Resolve ``cfg.resume`` / ``cfg.load_from`` before building a runner.

    * Auto-resume (``resume=True, load_from=None``): ``load_from`` becomes
      :func:`find_resume_checkpoint` of ``cfg.work_dir``, or, when there is
      none, ``resume`` becomes ``False`` (train from scratch, with the
      warning).
    * ``resume=True`` with a local ``load_from``: it is checked, and refused
      with a message naming the file and the newest readable checkpoint in
      its folder.
    * Otherwise ``cfg`` is unchanged.

    Args:
        cfg (Config): A config with ``work_dir`` set (modified in place).
        logger (logging.Logger | str, optional): Where to log; the current
            MMLogger by default.

    Returns:
        Config: ``cfg``.

    Raises:
        CheckpointReadError: The explicit checkpoint cannot be resumed from.
        UnsafeCheckpointError: The explicit checkpoint is unsafe.
    """
    cfg.resume, cfg.load_from = _resolve(cfg.get('resume', False),
                                         cfg.get('load_from', None),
                                         cfg.work_dir, logger)
    return cfg


def resolve_runner_resume(runner) -> None:
    """:func:`resolve_resume` for a built :class:`~mmengine.runner.Runner`,
    before ``runner.train()``.

    Rank 0 decides and broadcasts ``(resume, load_from)`` (or the error) so
    that all ranks resume from the same file (a shared filesystem is
    assumed, see the module docstring).

    Why after ``Runner.from_cfg`` and through ``runner._resume`` /
    ``runner._load_from``: only then do the run's logger (console and
    ``work_dir/<timestamp>/<timestamp>.log``, so the warnings land in the
    log file) and the process group (for the broadcast) exist. These two
    attributes are the only inputs of ``Runner.load_or_resume``, which
    ``runner.train()`` calls; they are set once in ``Runner.__init__``. This
    needs neither a Runner subclass (which would override a config's
    ``runner_type``) nor patching MMEngine. ``runner.cfg`` is updated too,
    so later checkpoints record the file resumed from.

    Args:
        runner (Runner): The runner, not yet trained.

    Raises:
        CheckpointReadError: The explicit checkpoint cannot be resumed from.
        UnsafeCheckpointError: The explicit checkpoint is unsafe.
    """
    if not runner._resume:
        return
    decision: List[Any] = [None]
    if is_main_process():
        try:
            decision = [
                _resolve(True, runner._load_from, runner.work_dir,
                         runner.logger)
            ]
        except (CheckpointReadError, UnsafeCheckpointError) as err:
            decision = [err]
    broadcast_object_list(decision)
    if isinstance(decision[0], Exception):
        raise decision[0]
    runner._resume, runner._load_from = decision[0]
    runner.cfg.resume, runner.cfg.load_from = decision[0]
