# Copyright (c) mmalfm contributors. All rights reserved.
"""The command lines that error messages about proposal files suggest.

:func:`tool_command` rebuilds the ``tools/data/selective_search.py`` call
that (re)makes a proposal file with the parameters recorded in its ``meta``.
Re-running that exact call resumes: the tool reuses the finished images of
its shard folder ``OUT.json.parts`` (kept after the run), processes only
the images without a result, retries the failed ones and rewrites
``OUT.json``. Other parameters would be refused by the shard folder, which
is why the flags come from ``meta``. Even without the shard folder the
tool reuses the images already in ``OUT`` (same parameters) and computes
only the others.

A file of detector boxes (``meta.method == 'detector'``) gets the
``tools/data/detector_proposals.py`` call instead (config, checkpoint,
score threshold and box limit from ``meta``); it runs the detector over
every image again.
"""
import shlex
from typing import Iterable, Mapping, Optional, Sequence

__all__ = [
    'TOOL', 'DETECTOR_TOOL', 'TOOL_DEFAULTS', 'tool_command', 'fill_in_note',
    'name_sample'
]

#: The proposal tool, relative to the repository root.
TOOL = 'tools/data/selective_search.py'
#: The detector-proposal tool.
DETECTOR_TOOL = 'tools/data/detector_proposals.py'

#: The tool's defaults: ``meta`` key (``params.<key>`` or ``filter``) ->
#: ``(flag, default)``. Only values that differ get a flag.
TOOL_DEFAULTS = {
    'implementation': ('--method', 'skimage'),
    'filter': ('--filter', 'ratio3size0308post'),
    'max_side': ('--max-side', 0),
    'scale': ('--scale', 300.0),
    'sigma': ('--sigma', 0.9),
    'min_size': ('--min-size', 100),
    'colour_hist': ('--colour-hist', 'soco'),
    'neighbours': ('--neighbours', 'bbox'),
}

#: Flags of ``params`` that the opencv-fast method does not take.
_SKIMAGE_ONLY = ('scale', 'sigma', 'min_size', 'colour_hist', 'neighbours')


def _recorded_flags(meta: Optional[Mapping]) -> list:
    """``[flag, value, ...]`` for the parameters in ``meta`` that differ
    from the tool's defaults."""
    meta = meta or {}
    params = dict(meta.get('params') or {})
    if 'filter' in meta:
        params['filter'] = meta['filter']
    if params.get('implementation') == 'opencv-fast':
        params = {k: v for k, v in params.items() if k not in _SKIMAGE_ONLY}
    flags = []
    for key, (flag, default) in TOOL_DEFAULTS.items():
        if key in params and params[key] != default:
            flags += [flag, str(params[key])]
    return flags


def tool_command(source: str,
                 out: str,
                 img_prefix: Optional[str] = None,
                 meta: Optional[Mapping] = None) -> str:
    """The shell command that (re)makes ``out`` for ``source``.

    Args:
        source (str): The image folder, or a COCO json of the images.
        out (str): The proposal file.
        img_prefix (str, optional): Folder the image keys are relative to
            (``--img-prefix``; needed with a COCO json, left out when it is
            ``source`` itself).
        meta (Mapping, optional): The file's ``meta`` (``params``,
            ``filter``); parameters that differ from the tool's defaults
            become flags, so that the call matches the file's shard folder.

    Returns:
        str: ``python tools/data/selective_search.py SOURCE OUT [...]``
        (``detector_proposals.py CONFIG CHECKPOINT SOURCE OUT [...]`` for
        detector boxes), shell-quoted.
    """
    meta = meta or {}
    detector = meta.get('method') == 'detector'
    if detector:
        args = ['python', DETECTOR_TOOL, str(meta.get('config', 'CONFIG')),
                str(meta.get('checkpoint', 'CHECKPOINT')), source, out]
    else:
        args = ['python', TOOL, source, out]
    if img_prefix and img_prefix.rstrip('/') != source.rstrip('/'):
        args += ['--img-prefix', img_prefix]
    if detector:
        for key, flag in (('score_thr', '--score-thr'),
                          ('max_per_img', '--max-per-img')):
            if meta.get(key) is not None:
                args += [flag, str(meta[key])]
    else:
        args += _recorded_flags(meta)
    return ' '.join(shlex.quote(a) for a in args)


def fill_in_note(out: str, meta: Optional[Mapping] = None) -> str:
    """What re-running the suggested command does, for the error about
    missing images (appended to "re-running `COMMAND`").

    Args:
        out (str): The proposal file or store.
        meta (Mapping, optional): Its ``meta``.

    Returns:
        str: The note, starting with ``': '`` or ``' ('``.
    """
    if (meta or {}).get('method') == 'detector':
        return ' (it runs the detector over every image again)'
    return (f': it resumes from its shard folder {out + ".parts"!r} if that '
            'is still there, and reuses the images already in the file '
            'either way (only the images without a result are processed)')


def name_sample(names: Sequence[str],
                reasons: Optional[Iterable[str]] = None,
                limit: int = 5,
                width: int = 100) -> str:
    """Up to ``limit`` quoted names (with their reason), then the rest's
    count: ``"'a.jpg' (reason), 'b.jpg' (and 3 more)"``.

    Args:
        names (Sequence[str]): The names.
        reasons (Iterable[str], optional): One reason per name, cut to
            ``width`` characters.
        limit (int): How many to show. Defaults to 5.
        width (int): Longest reason shown. Defaults to 100.

    Returns:
        str: The text.
    """
    shown = [repr(n) for n in names[:limit]]
    if reasons is not None:
        cut = [r if len(r) <= width else r[:width - 3] + '...'
               for r in list(reasons)[:limit]]
        shown = [f'{n} ({r})' for n, r in zip(shown, cut)]
    more = len(names) - len(shown)
    return ', '.join(shown) + (f' (and {more} more)' if more > 0 else '')
