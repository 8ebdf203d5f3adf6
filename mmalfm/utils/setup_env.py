# Copyright (c) mmalfm contributors. All rights reserved.
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register mmalfm's modules (and MMPretrain's) into the registries.

    Args:
        init_default_scope (bool): Whether to set the default scope to
            ``'mmalfm'``, so that configs may name our modules and
            MMPretrain's without a prefix. Defaults to True.
    """
    import mmalfm.datasets  # noqa: F401,F403
    import mmalfm.engine  # noqa: F401,F403
    import mmalfm.evaluation  # noqa: F401,F403
    import mmalfm.models  # noqa: F401,F403
    import mmalfm.visualization  # noqa: F401,F403
    from mmpretrain.utils import register_all_modules as _mmpretrain_register
    _mmpretrain_register(init_default_scope=False)

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None or not DefaultScope.check_instance_created('mmalfm'):
        DefaultScope.get_instance('mmalfm', scope_name='mmalfm')
    elif current.scope_name != 'mmalfm':
        warnings.warn('The current default scope '
                      f'"{current.scope_name}" is not "mmalfm", '
                      '`register_all_modules` will force the current '
                      'default scope to be "mmalfm". If this is not '
                      'expected, please set `init_default_scope=False`.')
        # A new instance name avoids clashing with an existing one.
        name = f'mmalfm-{datetime.datetime.now()}'
        DefaultScope.get_instance(name, scope_name='mmalfm')
