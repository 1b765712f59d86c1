"""The corpus DAG, one labelled chain:

    discover → filter → download → transcripts → sentences ┐
                                 → frames+features → kmeans → tokens → corpus

    python -m pipelines.corpus --out=out                       # the sample world, offline
    python -m pipelines.corpus --source_dir=~/videos --out=out # your own videos
    python -m pipelines.corpus --stages=kmeans,tokens,corpus   # rerun some stages from disk

`CHAIN` lists the stages in DAG order. Each is either run (its `run` consumes the PCollections of
earlier stages) or, when a later stage needs it but it is not run, read from its outputs under
--out inside the pipeline (`read`: its status parts joined to the discovered videos, or its own
table). The launcher builds the graph from the options alone: it lists no outputs and embeds
no rows.
"""

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from pipelines import dataflow  # dataflow: --gpu_type/--verbose, checks, GPU hints
from pipelines.options import Configs, CorpusOptions, configs, resolve
from schemas import USABLE, VIDEOS, layout
from schemas.process import run_cli
from stages.acquire.discover import Discover
from stages.acquire.download import Download, ReadDownloadedFn
from stages.acquire.filter import FilterVideos
from stages.corpus.segments import BuildCorpus, upstream_status
from stages.store.files import match, read_parts
from stages.store.stage import (
    CarryStatusFn,
    ReadParts,
    SkipFinished,
    StageStore,
    WithPrevious,
)
from stages.store.status import WriteStatus, status_counts
from stages.text.sentences import SplitSentences
from stages.text.transcripts import FetchTranscripts
from stages.video import kmeans as km
from stages.video.features import ExtractS3DFeatures, stage_fingerprints
from stages.video.tokens import AssignVisualTokens

log = logging.getLogger("pipelines.corpus")

EXIT_NOTHING_TO_CLUSTER = 3  # README: no video reached k-means (the summary says why)


class NothingToCluster(SystemExit):
    pass


class Build:
    """The named PCollections of one pipeline: each stage's outputs, made on first use by
    running the stage (when requested) or reading what it wrote before."""

    def __init__(self, p: beam.Pipeline, o: CorpusOptions):
        self.p, self.o, self.out = p, o, o.out
        self.cfg: Configs = configs(o)
        self.requested = set(o.stages.split(","))
        # dataflow: a dry run lists nothing on the launcher (no existence checks); the reads
        # themselves happen inside the pipeline, so the graph is the same
        self.launcher_io = dataflow.launcher_io(o)
        self._made: dict[str, dict] = {}

    def __getitem__(self, key: str):
        spec = PRODUCER[key]
        if spec.name not in self._made:
            run = spec.name in self.requested
            with_label = LABELS.get((spec.name, run)) or (
                f"{'' if run else 'Read'}{spec.name.capitalize()}"
            )
            self._made[spec.name] = (spec.run if run else spec.read)(self, with_label)
        return self._made[spec.name][key]

    def store(self, stage: str) -> StageStore:
        return StageStore(self.out, stage)

    def exists(self, pattern: str) -> bool:
        """Whether `pattern` matches anything; on a dry run, assumed (nothing is read)."""
        return match(pattern) if self.launcher_io else True

    def status(self, stage: str, label: str):
        """The ONE reader of a stage that was not run: its status rows of the discovered videos,
        joined inside the pipeline. Checked before any work starts: it must have run once."""
        store = self.store(stage)
        if not self.exists(store.status_glob):
            raise SystemExit(f"{store.status_glob}: nothing there: run the '{stage}' stage first")
        return (
            self["videos"]
            | f"{label}Status" >> WithPrevious(store)
            | f"{label}Rows" >> beam.FlatMap(lambda pair: [pair[1]] if pair[1] else [])
        )


# ---- Each stage: run it on upstream PCollections, or read its earlier outputs.
def run_discover(b: Build, label: str) -> dict:
    o = b.o
    videos, _ = b.p | label >> Discover(
        b.out, o.source, b.cfg.world, b.cfg.acquire, o.max_entries, o.retry_failed
    )
    return {"videos": videos}


def read_discover(b: Build, label: str) -> dict:
    if not b.exists(layout.videos_glob(b.out)):
        raise SystemExit(f"{layout.videos_glob(b.out)}: nothing there: run 'discover' first")
    return {"videos": b.p | label >> ReadParts(layout.videos_glob(b.out))}


def run_filter(b: Build, label: str) -> dict:
    return {"kept": b["videos"] | label >> FilterVideos(b.out, b.cfg.filter)}


def read_filter(b: Build, label: str) -> dict:
    """Videos the filter kept: those it judged ok, and those it never saw (local ones)."""
    kept = (
        b["videos"]
        | f"{label}Status" >> WithPrevious(b.store("filter"))
        | label
        >> beam.FlatMap(lambda vp: [vp[0]] if vp[1] is None or vp[1]["status"] == "ok" else [])
    )
    return {"kept": kept}


def run_download(b: Build, label: str) -> dict:
    o = b.o
    records, status = b["kept"] | label >> Download(b.out, b.cfg.acquire, o.force, o.retry_failed)
    _ = status | f"{label}Status" >> WriteStatus(b.store("download"))
    return {"records": records}


def read_download(b: Build, label: str) -> dict:
    return {"records": b["kept"] | label >> beam.ParDo(ReadDownloadedFn(b.out))}


def run_transcripts(b: Build, label: str) -> dict:
    o = b.o
    fetched = b["records"] | label >> FetchTranscripts(
        b.out, b.cfg.transcripts, o.force, o.retry_failed
    )
    return {"transcripts": fetched | f"{label}Status" >> WriteStatus(b.store("transcripts"))}


def run_sentences(b: Build, label: str) -> dict:
    split = b["transcripts"] | label >> SplitSentences(
        b.out, b.cfg.sentences, b["records"], b.o.force
    ).with_resource_hints(**dataflow.gpu_hints(b.o, "sentences"))  # dataflow: GPU right-fitting
    return {"sentences": split | f"{label}Status" >> WriteStatus(b.store("sentences"))}


def read_sentences(b: Build, label: str) -> dict:
    """Sentences of earlier runs; none yet: every segment is video-only."""
    if not b.exists(b.store("sentences").status_glob):
        log.warning("no sentences under %s: the corpus will be video-only", b.out)
        return {"sentences": b.p | label >> beam.Create([])}
    return {"sentences": b.status("sentences", label)}


def run_features(b: Build, label: str) -> dict:
    """Frames and features in one pass (decode, then embed); `--stages=frames` alone decodes."""
    with_features = "features" in b.requested
    stage = "features" if with_features else "frames"
    cfg = b.cfg.features if with_features else None
    fp = stage_fingerprints(b.cfg.frames, cfg)[stage]
    parts = (
        b["records"]
        | f"{label}Spread" >> beam.Reshuffle()
        | f"{label}SkipFinished" >> SkipFinished(b.store(stage), fp, b.o.force)
    )
    ext = parts.todo | label >> ExtractS3DFeatures(b.out, b.cfg.frames, cfg).with_resource_hints(
        **dataflow.gpu_hints(b.o, stage)  # dataflow: GPU right-fitting
    )
    frames_done = (  # dataflow: a retried bundle may have written the files already
        parts.done
        | "FramesPrevious" >> WithPrevious(b.store("frames"))
        | "FramesDone" >> beam.ParDo(CarryStatusFn(b.store("frames")))
        if with_features
        else parts.done
    )
    frames = (ext.frames_status, frames_done)
    _ = frames | "FramesAll" >> beam.Flatten() | "FramesStatus" >> WriteStatus(b.store("frames"))
    if not with_features:
        return {"features": None}
    features = (ext.features_status, parts.done) | "FeaturesAll" >> beam.Flatten()
    return {"features": features | "FeaturesStatus" >> WriteStatus(b.store("features"))}


def run_kmeans(b: Build, label: str) -> dict:
    fp = stage_fingerprints(b.cfg.frames, b.cfg.features)["features"]
    fit = km.FitOrLoadKMeans(b.out, b.cfg.kmeans, fp, b.o.force, videos=b["videos"])
    return {"tree": b["features"] | label >> fit}


def read_kmeans(b: Build, label: str) -> dict:
    path = layout.centroids_path(b.out)
    if not b.exists(path):
        raise SystemExit(f"{path} is missing: run the 'kmeans' stage first")
    return {"tree": b.p | f"{label}Path" >> beam.Create([path]) | label >> beam.Map(km.load_tree)}


def run_tokens(b: Build, label: str) -> dict:
    tok = b["features"] | label >> AssignVisualTokens(b.out, b["tree"], b.o.force, b.o.device)
    status = tok.status | f"{label}Status" >> WriteStatus(b.store("tokens"))
    return {"tokens": tok.tokens, "tokens_status": status}


def read_tokens(b: Build, label: str) -> dict:
    status = b.status("tokens", label)
    store = b.store("tokens")
    tokens = (
        status
        | f"{label}Usable" >> beam.Filter(lambda r: r["status"] in USABLE)
        | f"{label}Data" >> beam.Map(lambda r: store.read_data(r["video_id"]).to_pylist()[0])
    )
    return {"tokens": tokens, "tokens_status": status}


def run_corpus(b: Build, label: str) -> dict:
    built = b["tokens"] | label >> BuildCorpus(
        b.out, b["videos"], b["sentences"], b.o.segment_tokens
    )
    missing = (
        b["tokens_status"]
        | "NoTokens" >> beam.Filter(lambda r: r["status"] not in USABLE)
        | "CorpusUpstream" >> beam.Map(upstream_status)
    )
    status = (built, missing) | "CorpusAll" >> beam.Flatten()
    return {"corpus": status | "CorpusStatus" >> WriteStatus(b.store("corpus"))}


def _read_status(stage: str) -> Callable[[Build, str], dict]:
    """A stage whose one output is its status rows (keyed by the stage's name)."""
    return lambda b, label: {stage: b.status(stage, label)}


@dataclass(frozen=True)
class Stage:
    name: str
    outputs: tuple[str, ...]
    run: Callable[[Build, str], dict]
    read: Callable[[Build, str], dict]


CHAIN = (
    Stage("discover", ("videos",), run_discover, read_discover),
    Stage("filter", ("kept",), run_filter, read_filter),
    Stage("download", ("records",), run_download, read_download),
    Stage("transcripts", ("transcripts",), run_transcripts, _read_status("transcripts")),
    Stage("sentences", ("sentences",), run_sentences, read_sentences),
    Stage("features", ("features",), run_features, _read_status("features")),
    Stage("kmeans", ("tree",), run_kmeans, read_kmeans),
    Stage("tokens", ("tokens", "tokens_status"), run_tokens, read_tokens),
    Stage("corpus", ("corpus",), run_corpus, None),
)  # fmt: skip
PRODUCER = {key: spec for spec in CHAIN for key in spec.outputs}
# Step names the Dataflow UI and tests know (test_dataflow); the rest: Stage / ReadStage
LABELS = {
    ("discover", False): "LoadVideos",
    ("features", True): "Extract",
    ("kmeans", True): "KMeans",
}
STAGE_OF = {"frames": "features"}  # --stages=frames runs the decoding half of features


def build(p: beam.Pipeline, o: CorpusOptions) -> Build:
    """Wire the requested stages into `p`, in DAG order, with what they need from disk."""
    b = Build(p, o)
    b.requested |= {STAGE_OF[s] for s in b.requested if s in STAGE_OF}
    for spec in CHAIN:
        if spec.name in b.requested:
            b[spec.outputs[0]]
    return b


def report(o: CorpusOptions, seconds: float, result=None) -> str:
    """One screen: per stage run, videos in, usable, failures by reason; Beam counters.
    Status is read part by part (stages.store.status.status_counts)."""
    ids = set(read_parts(layout.videos_glob(o.out), VIDEOS, ["video_id"])["video_id"]
              .to_pylist())  # fmt: skip
    lines = []
    if result is not None:
        counters = result.metrics().query()["counters"]
        done = ", ".join(
            f"{c.key.metric.namespace}.{c.key.metric.name}={c.committed}"
            for c in sorted(counters, key=lambda c: str(c.key.metric))
        )
        lines.append(f"counters (this run): {done or 'none: nothing to do'}")
    for stage in o.stages.split(","):
        if stage in ("discover", "kmeans"):
            continue
        summary = status_counts(o.out, stage, ids)
        if summary is not None:
            lines.append(summary[0])
    lines.append(f"done in {seconds:.1f}s; outputs under {o.out}/")
    return "\n".join(lines)


def nothing_to_cluster(o: CorpusOptions) -> str | None:
    """Why no video reached k-means, when none did: the first stage that kept none."""
    for stage in ("filter", "download", "frames", "features"):
        summary = status_counts(o.out, stage)
        if summary is not None and summary[1] > 0 and summary[2] == 0:
            return f"nothing reached k-means: no video got past '{stage}' (see its summary above)"
    return None


def check_out(out: str) -> None:
    """A gs:// OUT whose bucket is missing or refuses us: one line, before any work."""
    if layout.is_local(out):
        return
    from schemas.io import StorageError, _bucket

    try:
        _bucket(out)
    except StorageError as e:
        raise SystemExit(f"--out={out}: {e}") from None


def run(argv=None, test_pipeline=None) -> CorpusOptions:
    options = PipelineOptions(dataflow.normalize_argv(argv))  # dataflow: bare --dry_run
    o = resolve(options.view_as(CorpusOptions))
    dataflow.check(options)  # dataflow: an option set that cannot work, one line, before work
    launcher_io = dataflow.launcher_io(options)  # dataflow: a dry run reads/lists nothing
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        # Beam's default local runner (Prism) downloads a binary at start-up: not offline.
        standard.runner = "FnApiRunner"
        if o.workers > 1:
            direct = options.view_as(DirectOptions)
            direct.direct_num_workers = o.workers
            direct.direct_running_mode = "multi_processing"
    if o.plan_only:
        o.stages = "discover,filter"
    stages = o.stages.split(",")
    punctuation = o.sentence_splitter == "punctuation" and o.transcripts != "none"
    if launcher_io:  # dataflow: a dry run touches no bucket
        check_out(o.out)
    if "sentences" in stages and punctuation and launcher_io:  # dataflow: not on a dry run
        from stages.text.punctuation import check_available

        check_available(o.punctuation_model)  # seconds now, not an error after the features
    for stage in stages if launcher_io else ():  # dataflow: not on a dry run
        StageStore(o.out, stage).sweep_temp_files()
    log.info("%s", dataflow.describe(options))
    start = time.monotonic()
    p = test_pipeline or beam.Pipeline(options=options)
    build(p, o)
    try:
        result = p.run()
        result.wait_until_finish()
    except Exception:
        why = launcher_io and "kmeans" in stages and nothing_to_cluster(o)
        if not why:
            raise
        print(report(o, time.monotonic() - start), file=sys.stderr)
        print(why, file=sys.stderr)
        raise NothingToCluster(EXIT_NOTHING_TO_CLUSTER) from None
    if not launcher_io:  # dataflow: a dry run built and validated the job; nothing ran
        print(f"dry run: {dataflow.describe(options)}", file=sys.stderr)
        return o
    print(report(o, time.monotonic() - start, result), file=sys.stderr)
    if o.plan_only:
        print(dry_run_plan(o.out), file=sys.stderr)
    return o


def dry_run_plan(out: str) -> str:
    """What a real run would download: videos, hours, size; rejections by reason."""
    from stages.acquire.filter import plan_summary

    videos = {r["video_id"]: r for r in read_parts(layout.videos_glob(out), VIDEOS).to_pylist()}
    status = {vid: r["status"] for vid, r in StageStore(out, "filter").load_status().items()}
    kept = [v for vid, v in videos.items() if status.get(vid, "ok") == "ok"]
    rejected = [(videos[vid], s) for vid, s in status.items() if s != "ok" and vid in videos]
    return plan_summary(kept, rejected)


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("apache_beam", "root"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Beam's local runner logs a failing step's traceback before re-raising the exception from
    # run(): an unexpected error still ends with its traceback (re-raised), and a run where no
    # video reached k-means ends with the summary and exit 3, not a traceback above it.
    logging.getLogger("apache_beam.runners.common").setLevel(logging.CRITICAL)
    return dataflow.main(run)  # dataflow: one-line configuration errors, exit 0 when done


if __name__ == "__main__":
    run_cli(main)
