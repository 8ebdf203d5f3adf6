# Copyright (c) mmalfm contributors. All rights reserved.
"""The command lines that error messages about proposal files suggest.

:func:`tool_command` rebuilds the ``tools/data/selective_search.py`` call
that (re)makes a proposal file with the parameters recorded in its ``meta``.
Re-running that exact call resumes: the tool reuses the finished images of
its shard folder ``OUT.json.parts`` (kept after the run), processes only
the images without a result, retries the failed ones and rewrites
``OUT.json``. Other parameters would be refused by the shard folder, which
is why the flags come from ``meta``.
"""
import shlex
from typing import Iterable, Mapping, Optional, Sequence

__all__ = ['TOOL', 'TOOL_DEFAULTS', 'tool_command', 'name_sample']

#: The proposal tool, relative to the repository root.
TOOL = 'tools/data/selective_search.py'

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
        str: ``python tools/data/selective_search.py SOURCE OUT [...]``,
        shell-quoted.
    """
    args = ['python', TOOL, source, out]
    if img_prefix and img_prefix.rstrip('/') != source.rstrip('/'):
        args += ['--img-prefix', img_prefix]
    args += _recorded_flags(meta)
    return ' '.join(shlex.quote(a) for a in args)


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
