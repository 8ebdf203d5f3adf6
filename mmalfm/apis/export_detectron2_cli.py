# Copyright (c) mmalfm contributors. All rights reserved.
"""Export the online network of a pretraining checkpoint for detectron2.

    python tools/model_converters/export_to_detectron2.py CKPT OUT.pkl \
        [--with-neck] [--with-head] [--c4] [--method auto|soco|...]

Writes detectron2's model-zoo format ``{'model': {name: ndarray},
'__author__': ..., 'matching_heuristics': True}`` (``.pkl``; any other
suffix: ``torch.save`` of tensors) with detectron2 names: ``stem.conv1
(.norm)``, ``res2-res5.*`` (``convK.norm``, ``shortcut(.norm)``),
``backbone.fpn_lateral{l}/fpn_output{l}(.norm)``,
``roi_heads.box_head.conv{k}(.norm)/fc1``. Use it with
``MODEL.WEIGHTS OUT.pkl``, ``INPUT.FORMAT RGB``, ``MODEL.PIXEL_MEAN
[123.675, 116.28, 103.53]``, ``MODEL.PIXEL_STD [58.395, 57.12, 57.375]``,
``MODEL.RESNETS.STRIDE_IN_1X1 False`` (docs/user_guides/transfer.md).

Exit status: 0 written; 1 bad input (missing file, no weights, other
method).
"""
import argparse
import sys

from .export import (ExportError, detect_method, export_detectron2,
                     format_summary, load_training_checkpoint,
                     save_detectron2_export)
from .export_cli_args import (add_export_arguments, add_method_argument,
                              export_as_asked)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a pretraining checkpoint (online network) to '
        'detectron2 names.')
    add_export_arguments(
        parser,
        out='output file (.pkl, or .pth)',
        neck='also export the FPN (fpn_lateral/fpn_output)',
        head='also export the 4conv1fc box head',
        c4='C4 detector: backbone with res5 only')
    add_method_argument(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Export ``argv``'s checkpoint; returns the exit status."""
    args = parse_args(argv)
    try:
        state, meta = load_training_checkpoint(args.checkpoint)
        spec, how = detect_method(state, meta, args.method, args.checkpoint)
        # detectron2 keeps res5 under its own name in every detector, and
        # CrossCL's FPN biases (the released converter carried them along).
        result = export_as_asked(args, state, meta, spec, how,
                                 partial_fpn_c3_index=1,
                                 partial_fpn_bias=True)
        model = export_detectron2(result)
    except (ExportError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'export {args.checkpoint} -> {args.out}')
    print(format_summary(result, 'detectron2 (num_batches_tracked dropped)'))
    if result.missing or result.mismatched:
        print(f'WARNING: the export lacks {len(result.missing)} and '
              f'mis-shapes {len(result.mismatched)} keys of the '
              f'{spec.name} architecture\'s layout, e.g. '
              f'{(result.missing + result.mismatched)[:5]}', file=sys.stderr)
    save_detectron2_export(
        model, args.out,
        dict(method=spec.name, source=args.checkpoint,
             with_neck=args.with_neck, with_head=args.with_head, c4=args.c4,
             fpn_level_offset=result.fpn.get('level_offset', 2)))
    print(f'wrote {len(model)} tensors to {args.out} '
          '(matching_heuristics: True)')
    return 0
