# Copyright (c) mmalfm contributors. All rights reserved.
from .checkpoint import (UnsafeCheckpointError, register_safe_checkpoint_globals,
                         safe_checkpoint_globals, safe_load)
from .config_check import ConfigKeyError, check_config
from .config_errors import ConfigTypeError, explain_registry_error
from .cpu_fallback import adapt_config_to_cpu, init_cpu_distributed
from .resume import (CheckpointReadError, check_resume_checkpoint,
                     find_resume_checkpoint, list_resume_candidates,
                     resolve_resume, resolve_runner_resume)
from .setup_env import register_all_modules

__all__ = [
    'UnsafeCheckpointError', 'register_safe_checkpoint_globals',
    'safe_checkpoint_globals', 'safe_load', 'ConfigTypeError',
    'explain_registry_error', 'adapt_config_to_cpu', 'init_cpu_distributed',
    'register_all_modules', 'ConfigKeyError', 'check_config',
    'CheckpointReadError', 'check_resume_checkpoint',
    'find_resume_checkpoint', 'list_resume_candidates', 'resolve_resume',
    'resolve_runner_resume'
]
