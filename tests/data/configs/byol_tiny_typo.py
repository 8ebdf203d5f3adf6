# byol_tiny with a typo in the algorithm type.
_base_ = ['./byol_tiny.py']
model = dict(type='BYOLL')
