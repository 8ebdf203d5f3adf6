# Copyright (c) mmalfm contributors. All rights reserved.
"""What the two export command lines share (:mod:`.export_mmdet_cli`,
:mod:`.export_detectron2_cli`): their checkpoint, output and layout
arguments, and the export those arguments ask for."""
import argparse
from typing import Dict

from torch import Tensor

from mmalfm.structures import TransferSpec
from .export import (ExportResult, export_methods, export_mmdet,
                     training_model_cfg)


def add_export_arguments(parser: argparse.ArgumentParser, out: str,
                         neck: str, head: str, c4: str) -> None:
    """Add ``checkpoint``, ``out`` and the ``--with-neck``, ``--with-head``
    and ``--c4`` switches to ``parser``.

    Args:
        parser (ArgumentParser): An exporter's parser.
        out (str): Help of ``out`` (the output file).
        neck (str): Help of ``--with-neck``.
        head (str): Help of ``--with-head``.
        c4 (str): Help of ``--c4``.
    """
    parser.add_argument('checkpoint', help='pretraining checkpoint (.pth)')
    parser.add_argument('out', help=out)
    parser.add_argument('--with-neck', action='store_true', help=neck)
    parser.add_argument('--with-head', action='store_true', help=head)
    parser.add_argument('--c4', action='store_true', help=c4)


def add_method_argument(parser: argparse.ArgumentParser) -> None:
    """The exporters' ``--method`` option. Not a closed choice list: a
    plugin method is registered only once the checkpoint's stored config
    has imported it (:func:`~.export.detect_method` checks the name then)."""
    parser.add_argument(
        '--method', default='auto',
        help='expected method: auto (default: from the checkpoint) or a '
        f'declared name ({", ".join(export_methods())}, or a plugin\'s, '
        'registered by the checkpoint\'s config)')


def export_as_asked(args: argparse.Namespace, state: Dict[str, Tensor],
                    meta: dict, spec: TransferSpec, how: str, *,
                    partial_fpn_c3_index: int,
                    partial_fpn_bias: bool) -> ExportResult:
    """:func:`~.export.export_mmdet` of a loaded checkpoint with the layout
    ``args`` asks for (:func:`add_export_arguments`).

    Args:
        args (Namespace): ``checkpoint``, ``with_neck``, ``with_head``,
            ``c4``.
        state (dict): The checkpoint's state dict.
        meta (dict): Its ``meta`` (the training config in it).
        spec (TransferSpec): The method's transfer declaration.
        how (str): How the method was found (reported).
        partial_fpn_c3_index (int): As :func:`~.export.export_mmdet`.
        partial_fpn_bias (bool): As :func:`~.export.export_mmdet`.

    Returns:
        ExportResult: The export.
    """
    return export_mmdet(
        state, spec,
        with_neck=args.with_neck,
        with_head=args.with_head,
        c4=args.c4,
        model_cfg=training_model_cfg(meta),
        partial_fpn_c3_index=partial_fpn_c3_index,
        partial_fpn_bias=partial_fpn_bias,
        detected_by=how,
        path=args.checkpoint)
