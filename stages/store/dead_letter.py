"""Dead letters: one bad video never kills a job, and never hides.

A per-video step catches the errors it expects and turns them into status rows with their own
reason. Anything else it raises (a bug, or an input no rule anticipated) would fail the bundle;
Dataflow retries a bundle four times and then fails the whole batch job. `Guarded` runs the
step's DoFn under Beam's `with_exception_handling`, so such an exception becomes:

- that video's status row in each stage the step writes: `internal_error`, with the exception
  type and message (`OUT/<stage>/status/part-*.parquet`, listed first by the run summary and
  `make inspect`), and
- a dead letter with the full traceback: `OUT/failed/<stage>/<video_id>.json`;

and the rest of the run completes. `--fail_fast` (the test suite's default, through
`VIDEOBERT_FAIL_FAST=1` in tests/conftest.py) applies the plain DoFn instead, so programming
errors stay loud in development.

Input elements are dicts with a `video_id` (video records or upstream status rows). Setup
failures (a model that cannot be loaded) are not per-video: they still fail the run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from schemas import Status
from schemas.layout import failed_path
from stages.store.files import atomic_write
from stages.store.status import status_row

log = logging.getLogger(__name__)

FAIL_FAST_ENV = "VIDEOBERT_FAIL_FAST"
DEAD_LETTER_TAG = "failed"
MAIN = "main"


class DeadLetterOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--fail_fast",
            action=argparse.BooleanOptionalAction,
            default=os.environ.get(FAIL_FAST_ENV, "") == "1",
            help="crash on an exception a per-video step did not anticipate, instead of "
            "recording it as that video's `internal_error` row + a dead letter under "
            f"OUT/failed/<stage>/ (default: off; on where ${FAIL_FAST_ENV}=1, as in the tests)",
        )


class DeadLetter(NamedTuple):
    video_id: str
    stage: str
    exception_type: str
    message: str
    traceback: str

    def status_row(self) -> dict:
        return status_row(
            self.video_id,
            self.stage,
            Status.INTERNAL_ERROR,
            f"{self.exception_type}: {self.message}",
        )


def _video_id(element) -> str:
    """The video of an input element: a row, or a joined tuple whose first item is one
    (stages.store.stage.WithPrevious: (row, previous status row))."""
    while isinstance(element, tuple | list):
        element = element[0]
    return element["video_id"]


def dead_letters(failed: tuple, stages: tuple[str, ...]) -> list[DeadLetter]:
    """Beam's dead-letter element `(element, (type, repr, traceback lines))` → one DeadLetter
    per stage the step writes."""
    element, (exc_type, exc_repr, tb_lines) = failed
    name = f"{exc_type.__module__}.{exc_type.__qualname__}"
    if exc_type.__module__ == "builtins":
        name = exc_type.__qualname__
    message = exc_repr[len(exc_type.__name__) + 1 : -1] if exc_repr.endswith(")") else exc_repr
    return [
        DeadLetter(_video_id(element), stage, name, message[:500], "".join(tb_lines))
        for stage in stages
    ]


class WriteDeadLetterFn(beam.DoFn):
    """DeadLetter → `OUT/failed/<stage>/<video_id>.json` (atomic; a rerun overwrites it)."""

    def __init__(self, out: str):
        self._out = out
        self._count = Metrics.counter("dead_letters", "internal_errors")

    def process(self, letter: DeadLetter):
        path = failed_path(self._out, letter.stage, letter.video_id)
        blob = json.dumps(letter._asdict(), indent=1).encode()
        atomic_write(path, lambda f: f.write(blob))
        self._count.inc()
        log.error(
            "%s: %s: internal_error %s: %s (traceback: %s)",
            letter.video_id,
            letter.stage,
            letter.exception_type,
            letter.message,
            path,
        )
        yield letter.status_row()


def read_dead_letters(out: str, stage: str) -> list[dict]:
    """The dead letters of `stage` under `out`, sorted by video id (for inspect and tests)."""
    pattern = FileSystems.join(out, "failed", stage, "*.json")
    found = [m.path for r in FileSystems.match([pattern]) for m in r.metadata_list]
    letters = []
    for path in sorted(found):
        with FileSystems.open(path) as f:
            letters.append(json.loads(f.read()))
    return letters


def fail_fast(pcoll) -> bool:
    return pcoll.pipeline._options.view_as(DeadLetterOptions).fail_fast


class Guarded(beam.PTransform):
    """`ParDo(fn)` whose unexpected per-video exceptions become `internal_error` status rows
    plus dead letters, unless `--fail_fast`.

    `outputs` maps each output tag of `fn` (MAIN for the main output) to the stage whose status
    rows it carries, or to None for a data output. Returns a dict tag → PCollection in which
    each status output also holds the `internal_error` rows of its stage.
    """

    def __init__(self, out: str, fn: beam.DoFn, outputs: dict[str, str | None], *args, **kwargs):
        super().__init__()
        self._out, self._fn, self._outputs, self._args, self._kwargs = (
            out,
            fn,
            outputs,
            args,
            kwargs,
        )

    def expand(self, pcoll):
        tags = [t for t in self._outputs if t != MAIN]
        pardo = beam.ParDo(self._fn, *self._args, **self._kwargs).with_outputs(*tags, main=MAIN)
        if fail_fast(pcoll):
            result = pcoll | "Apply" >> pardo
            return {tag: result[tag] for tag in self._outputs}
        result = pcoll | "Apply" >> pardo.with_exception_handling(
            main_tag=MAIN, dead_letter_tag=DEAD_LETTER_TAG
        )
        stages = tuple(s for s in self._outputs.values() if s)
        errors = (
            result[DEAD_LETTER_TAG]
            | "DeadLetters" >> beam.FlatMap(dead_letters, stages)
            | "WriteDeadLetters" >> beam.ParDo(WriteDeadLetterFn(self._out))
        )
        outputs = {}
        for tag, stage in self._outputs.items():
            if stage is None:
                outputs[tag] = result[tag]
                continue
            mine = errors | f"InternalErrors[{stage}]" >> beam.Filter(
                lambda row, stage: row["stage"] == stage, stage
            )
            outputs[tag] = (result[tag], mine) | f"WithInternalErrors[{stage}]" >> beam.Flatten()
        return outputs
