# byol_tiny_epochs, killed right after the checkpoint of epoch 1.
_base_ = ['./byol_tiny_epochs.py']
custom_imports = dict(imports=['mmalfm_test_plugins'])
custom_hooks = [dict(type='InterruptAtEpochHook', epoch=1)]
