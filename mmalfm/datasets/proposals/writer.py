# Copyright (c) mmalfm contributors. All rights reserved.
"""The context protocol shared by the proposal writers."""

__all__ = ['AtomicWriter']


class AtomicWriter:
    """A writer that publishes its output on :meth:`close` and drops it on
    :meth:`abort`; as a context manager, closes on success and aborts on
    an exception (the JSON file and the store folder writers)."""

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> 'AtomicWriter':
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()
