"""Worker-side resources: what one worker process holds, sized from the worker's own machine.

- `worker_threads(processes)`: torch intra-op threads for one of `processes` concurrent model
  callers on this machine, from the CPUs this process may run on (its affinity / container's
  cpuset), computed in `DoFn.setup` on the worker, never on the launcher.
- `acquire(handle, tag, load)`: a model loaded once per worker process and shared by all the
  DoFn instances (Beam runs one per harness thread) through `apache_beam.utils.shared.Shared`;
  `SharedModel.lock` serialises callers that are not thread-safe (a HF fast tokenizer).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from apache_beam.utils.shared import Shared


def worker_threads(processes: int = 1) -> int:
    """`processes` <= 0: one process per CPU (Dataflow's default), so one thread each."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus // processes) if processes > 0 else 1


class SharedModel:
    """A model shared by the threads of one worker process (weak-referenceable for Shared)."""

    def __init__(self, model: Any):
        self.model = model
        self.lock = threading.Lock()


def acquire(handle: Shared, tag: str, load: Callable[[], Any]) -> SharedModel:
    """The process's model for `tag`, loaded by `load()` on first use; keep the returned
    object referenced (on the DoFn) for as long as it is used."""
    return handle.acquire(lambda: SharedModel(load()), tag=tag)
