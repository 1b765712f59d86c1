"""Running the corpus DAG on Dataflow: options, checks before any work, GPU right-fitting.

    python -m pipelines.corpus --runner=DataflowRunner --project=P --region=us-central1 \\
      --temp_location=gs://B/tmp --setup_file=./setup.py --out=gs://B/vb ... \\
      [--gpu_type=nvidia-l4 --sdk_container_image=IMAGE]  [--dry_run]

- `check(options)`: an option set that cannot work is one line naming the fix
  (`ConfigError`), raised on the launcher before anything is read, written or submitted.
- `gpu_hints(o, step)`: with `--gpu_type`, the features step (S3D) and the punctuation step get
  a Beam resource hint `accelerator="type:T;count:N;install-nvidia-driver"`, so Dataflow
  right-fits GPU workers to those steps only; every other step runs on the job's CPU workers.
- `launcher_io(options)`: whether the launcher may touch OUT (sweep temp files, print the
  run summary). Beam's `--dry_run` builds and validates the Dataflow job (the job proto is on
  the result's `.job`) and submits nothing; the launcher then reads and lists nothing either,
  so a dry run needs no network and no credentials.

What the launcher does before building the job (all offline): parse the options, these checks
(string tests on the paths, no listing), the punctuation model's config when the punctuation
splitter runs (skipped on a dry run: it may download from the Hub), and Beam's staging of
`--setup_file` (`python -m build --sdist --no-isolation`, local).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable

from apache_beam.options.pipeline_options import (
    DebugOptions,
    GoogleCloudOptions,
    PipelineOptions,
    SetupOptions,
    StandardOptions,
    TestOptions,
    WorkerOptions,
)

from pipelines.options import CorpusOptions
from schemas.layout import is_local

log = logging.getLogger(__name__)

GPU_STEPS = ("features", "sentences")  # S3D; the punctuation model (punctuation splitter only)
GCS_BUCKET = r"[a-z0-9][-_a-z0-9.]+[a-z0-9]"  # PipelineOptionsValidator.GCS_BUCKET
PROJECT_ID = r"[a-z][-a-z0-9:.]+[a-z0-9]"  # PipelineOptionsValidator.PROJECT_ID_PATTERN
BEAM_IMAGES = "apache/beam_python"  # Beam's default worker images carry no CUDA


class ConfigError(ValueError):
    """An option set that cannot work; the message is one line that names the fix."""


class RuntimeOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--gpu_type",
            default=None,
            help="Dataflow: run the features (S3D) and punctuation steps on GPU workers of "
            "this type (nvidia-l4, nvidia-tesla-t4, ...; right-fitted by a resource hint, "
            "the other steps stay on CPU workers); needs --sdk_container_image with CUDA "
            "(see Dockerfile) and implies --device=cuda",
        )
        parser.add_argument("--gpu_count", type=int, default=1, help="GPUs per GPU worker")
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="print tracebacks of configuration errors (offline models, bad options)",
        )


def is_dataflow(options: PipelineOptions) -> bool:
    return (options.view_as(StandardOptions).runner or "").endswith("DataflowRunner")


def is_dry_run(options: PipelineOptions) -> bool:
    return bool(options.view_as(TestOptions).dry_run)


def launcher_io(options: PipelineOptions) -> bool:
    """Whether the launcher may read/list OUT: not on a dry run (nothing runs, no network)."""
    return not is_dry_run(options)


def accelerator(options: PipelineOptions) -> str | None:
    """The Beam accelerator hint of `--gpu_type`/`--gpu_count`, or None without a GPU."""
    r = options.view_as(RuntimeOptions)
    if not r.gpu_type:
        return None
    return f"type:{r.gpu_type};count:{r.gpu_count};install-nvidia-driver"


def gpu_hints(options: PipelineOptions, step: str) -> dict[str, str]:
    """`with_resource_hints(**gpu_hints(o, step))`: the accelerator for a GPU step, else {}.

    The sentences step needs a GPU only when it runs the punctuation model."""
    hint = accelerator(options)
    if hint is None or step not in GPU_STEPS:
        return {}
    if step == "sentences" and options.view_as(CorpusOptions).sentence_splitter != "punctuation":
        return {}
    return {"accelerator": hint}


def _gs_sources(o: CorpusOptions) -> list[tuple[str, str]]:
    return [("source", s) for s in o.source if s.startswith("gs://")]


def _bad_bucket(path: str | None) -> str | None:
    """The bucket of a gs:// `path` when Beam's validator would reject it (it then falls back
    to creating a default bucket, which needs the network), else None."""
    if not path or not path.startswith("gs://"):
        return None
    bucket = path[len("gs://") :].split("/", 1)[0]
    return None if re.fullmatch(GCS_BUCKET, bucket) and len(bucket) <= 63 else bucket


def _local_sources(options: PipelineOptions) -> list[str]:
    o = options.view_as(CorpusOptions)
    sources = [*o.source, *([o.source_dir] if o.source_dir else [])]
    return [s for s in sources if os.path.exists(os.path.expanduser(s))]


def check(options: PipelineOptions) -> None:
    """Raise ConfigError (one line with the fix) for an option set that cannot work.

    Only string tests and local-path tests: nothing remote is contacted."""
    r = options.view_as(RuntimeOptions)
    if not is_dataflow(options):
        if r.gpu_type:
            raise ConfigError(
                "--gpu_type only applies to --runner=DataflowRunner; locally use --device=cuda"
            )
        return
    gcp, worker = options.view_as(GoogleCloudOptions), options.view_as(WorkerOptions)
    o = options.view_as(CorpusOptions)
    out = o.out
    if is_local(out):
        raise ConfigError(
            f"--out={out} is local, which Dataflow workers cannot write: "
            "pass --out=gs://BUCKET/PREFIX"
        )
    if not (gcp.temp_location or "").startswith("gs://"):
        raise ConfigError("DataflowRunner needs --temp_location=gs://BUCKET/tmp")
    for flag, path in [("out", out), ("temp_location", gcp.temp_location),
                       ("staging_location", gcp.staging_location), *_gs_sources(o)]:  # fmt: skip
        bad = _bad_bucket(path)
        if bad:
            raise ConfigError(
                f"--{flag}={path}: {bad!r} is not a valid GCS bucket name (3-63 characters of "
                "a-z 0-9 - _ .): use a bucket of your project, e.g. gs://my-project-videobert/"
            )
    if not gcp.project or not gcp.region:
        raise ConfigError("DataflowRunner needs --project=PROJECT and --region=REGION")
    if not re.fullmatch(PROJECT_ID, gcp.project):
        raise ConfigError(
            f"--project={gcp.project} is not a project id (6-30 characters: a-z 0-9 -, "
            "starting with a letter): pass the id `gcloud projects list` shows"
        )
    for source in _local_sources(options):
        raise ConfigError(
            f"--source={source} is on this machine, which Dataflow workers cannot read: copy "
            f"it (gcloud storage cp -r {source} gs://BUCKET/videos/) and pass "
            "--source=gs://BUCKET/videos/"
        )
    image = worker.sdk_container_image or ""
    if not image and not options.view_as(SetupOptions).setup_file:
        raise ConfigError(
            "Dataflow workers need this package: pass --setup_file=./setup.py, or "
            "--sdk_container_image=IMAGE built from the Dockerfile"
        )
    if r.gpu_type:
        if r.gpu_count < 1:
            raise ConfigError(f"--gpu_count={r.gpu_count}: use 1 or more")
        if not image or image.startswith(BEAM_IMAGES):
            raise ConfigError(
                f"--gpu_type={r.gpu_type} needs a worker image with CUDA torch: build the "
                "Dockerfile (docker build -t IMAGE .; docker push IMAGE) and pass "
                "--sdk_container_image=IMAGE"
            )
        if o.device == "cpu":
            o.device = "cuda"  # the GPU steps run on GPU workers (--gpu_type implies it)


def describe(options: PipelineOptions) -> str:
    """One line for the launcher's log: where each kind of step runs."""
    hint = accelerator(options)
    if not is_dataflow(options):
        return "local run"
    gpu = f"features + punctuation on {hint}" if hint else "every step on CPU workers"
    mode = "dry run: built, not submitted" if is_dry_run(options) else "submitted"
    return f"Dataflow job ({mode}); {gpu}"


def model_callers(options: PipelineOptions) -> int:
    """How many model callers share one machine, for `stages.workers.worker_threads`: local
    runs, `--workers` processes; on Dataflow with one SDK process per VM
    (`--experiments=no_use_multiple_sdk_containers`, the recipe), its harness threads
    (`--number_of_worker_harness_threads`); otherwise Dataflow runs one SDK process per vCPU
    (0: one torch thread each)."""
    if not is_dataflow(options):
        return max(1, options.view_as(CorpusOptions).workers)
    debug = options.view_as(DebugOptions)
    if debug.lookup_experiment("no_use_multiple_sdk_containers"):
        return debug.number_of_worker_harness_threads or 1
    return 0


# Expected configuration errors: their message is the fix (matched by name, so that checking
# does not import torch or transformers).
CONFIG_ERRORS = frozenset({"ConfigError", "WeightsUnavailableError", "PunctuationModelUnavailable"})


def config_error(e: BaseException) -> BaseException | None:
    """The expected configuration error in `e`'s chain (Beam re-raises a DoFn's exception
    with the step's name added), or None."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if type(e).__name__ in CONFIG_ERRORS:
            return e
        e = e.__cause__ or e.__context__
    return None


def main(run: Callable[[list[str] | None], object], argv: list[str] | None = None) -> int:
    """Run `run(argv)`; an expected configuration error prints its one-line fix (the
    traceback only with --verbose) and returns 2; success returns 0."""
    args = sys.argv[1:] if argv is None else argv
    try:
        run(argv)
    except Exception as e:
        found = config_error(e)
        if found is None or "--verbose" in args:
            raise
        message = str(found).splitlines()[0].split(" [while running")[0]
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0


def normalize_argv(argv: list[str] | None) -> list[str]:
    """Beam's `--dry_run` takes a value (any non-empty string is true, "False" too): accept
    the bare flag and spell falsy values as off."""
    args = list(sys.argv[1:] if argv is None else argv)
    fixed = []
    for a in args:
        if a == "--dry_run":
            a = "--dry_run=True"
        elif a.startswith("--dry_run=") and a.split("=", 1)[1].lower() in ("", "0", "false", "no"):
            continue
        fixed.append(a)
    return fixed
