# Copyright (c) mmalfm contributors. All rights reserved.
"""Export the online network of a pretraining checkpoint for MMDetection.

    python tools/model_converters/export_to_mmdet.py CKPT OUT \
        [--with-neck] [--with-head] [--c4] [--check DETECTOR_CONFIG] \
        [--method auto|soco|alfm|crosscl|dupr|byol|mocov2|densecl]

Writes ``{'state_dict': ..., 'meta': ...}`` with whole-detector keys
(``backbone.*`` [+ ``neck.*``] [+ ``roi_head.bbox_head.shared_convs/fcs.*``]
or, with ``--c4``, res5 as ``roi_head.shared_head.layer4.*``), to be loaded
by a detector-level ``init_cfg`` (docs/user_guides/transfer.md)::

    model = dict(
        init_cfg=dict(type='mmalfm.PretrainedExport', checkpoint=OUT),
        backbone=dict(init_cfg=None))

Exit status: 0 written; 1 bad input (missing file, no weights, other
method); 2 ``--check`` failed (nothing written).
"""
import argparse
import sys
import warnings

from mmalfm.apis.export import (RECOMMENDED_INIT_CFG, ExportError,
                                build_detector_state, check_export,
                                detect_method, format_summary,
                                load_training_checkpoint,
                                partial_fpn_target, save_mmdet_export)
from mmalfm.apis.export_cli_args import (add_export_arguments,
                                         add_method_argument, export_as_asked)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a pretraining checkpoint (online network) to '
        'MMDetection keys.')
    add_export_arguments(
        parser,
        out='output file (.pth)',
        neck='also export the FPN as neck.*',
        head='also export the 4conv1fc box-head trunk',
        c4='C4 detector: res5 -> roi_head.shared_head.layer4')
    parser.add_argument('--check', metavar='DETECTOR_CONFIG',
                        help='build this mmdet config and fail (exit 2, '
                        'nothing written) on missing/mis-shaped keys')
    add_method_argument(parser)
    return parser.parse_args(argv)


def _print_list(title, items, limit=40):
    print(f'{title} ({len(items)}):')
    for item in items[:limit]:
        print(f'    {item}')
    if len(items) > limit:
        print(f'    ... {len(items) - limit} more')


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        state, meta = load_training_checkpoint(args.checkpoint)
        spec, how = detect_method(state, meta, args.method, args.checkpoint)
        detector = None
        c3_index, bias = 1, False
        if args.check:
            detector = build_detector_state(args.check)
            if spec.neck == 'partial_fpn' and args.with_neck:
                c3_index, bias = partial_fpn_target(detector)
        result = export_as_asked(args, state, meta, spec, how,
                                 partial_fpn_c3_index=c3_index,
                                 partial_fpn_bias=bias)
    except (ExportError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'export {args.checkpoint} -> {args.out}')
    print(format_summary(result, 'mmdet'))
    if result.missing or result.mismatched:
        msg = (f'WARNING: the export lacks {len(result.missing)} and '
               f'mis-shapes {len(result.mismatched)} keys of the '
               f'{spec.name} architecture\'s layout (a truncated or '
               'foreign checkpoint?); the detector will keep its random init '
               'for them. Check against the detector with --check CONFIG.')
        warnings.warn(msg)
        print(msg, file=sys.stderr)
        _print_list('missing', result.missing)
        _print_list('shape mismatch', result.mismatched)
    if detector is not None:
        report = check_export(result.state_dict, detector,
                              list(result.groups),
                              partial_fpn=bool(result.fpn.get('partial')))
        print(f'check against {args.check}:')
        fresh = ', '.join(f'{g} {n}' for g, n in report.fresh.items())
        print(f'  detector tensors left to their init: {fresh or "none"}')
        if report.unexpected:
            _print_list('  UNEXPECTED (the detector lacks them)',
                        report.unexpected, limit=10)
        if not report.ok:
            _print_list('  MISSING', report.missing)
            _print_list('  SHAPE MISMATCH', report.mismatched)
            for hint in report.hints:
                print(f'  hint: {hint}')
            print(f'error: the export does not fit {args.check}; '
                  f'{args.out} not written.', file=sys.stderr)
            return 2
        print('  ok: every requested key present with the right shape')
    save_mmdet_export(
        result, args.out, args.checkpoint, meta,
        dict(with_neck=args.with_neck, with_head=args.with_head, c4=args.c4,
             fpn=result.fpn, checked_with=args.check or ''))
    print(f'wrote {args.out}; load it with\n    {RECOMMENDED_INIT_CFG}'
          .replace('EXPORT', repr(args.out)))
    return 0

