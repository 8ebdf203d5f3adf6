# crosscl_tiny, killed right after the checkpoint of iteration 2 is written.
_base_ = ['./crosscl_tiny.py']
custom_imports = dict(imports=['mmalfm_test_plugins'])
custom_hooks = [dict(type='InterruptAtIterHook', iteration=2)]
