# byol_tiny, each rank writing its parameters at the end (DDP test).
_base_ = ['./byol_tiny.py']
custom_imports = dict(imports=['mmalfm_test_plugins'])
custom_hooks = [dict(type='DumpRankParamsHook')]
