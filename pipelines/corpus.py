"""The corpus DAG: discover → transcripts → sentences ┐
                             → frames+features → kmeans → tokens → corpus.

    python -m pipelines.corpus --out=out                       # the sample world, offline
    python -m pipelines.corpus --source_dir=~/videos --out=out # your own videos
    python -m pipelines.corpus --stages=kmeans,tokens,corpus   # rerun some stages from disk

Every stage reads its inputs from the PCollections of earlier stages in the same run, or,
when those stages are not run, from their outputs on disk under --out.
"""

import logging
import sys
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from pipelines import dataflow  # dataflow: --gpu_type/--verbose, checks, GPU hints
from pipelines.options import CorpusOptions, resolve
from schemas import USABLE
from stages.acquire.discover import Discover
from stages.acquire.download import Download, ReadDownloadedFn
from stages.acquire.filter import FilterVideos
from stages.corpus.segments import BuildCorpus, upstream_status
from stages.store.files import read_table
from stages.store.stage import CarryStatusFn, PartitionFinishedFn, StageStore
from stages.store.status import WriteStatus, summarize
from stages.text.sentences import SentencesConfig, SplitSentences
from stages.text.transcripts import FetchTranscripts, TranscriptsConfig
from stages.video import kmeans as km
from stages.video.features import ExtractS3DFeatures, FeaturesConfig, stage_fingerprints
from stages.video.frames import FramesConfig
from stages.video.tokens import AssignVisualTokens

log = logging.getLogger("pipelines.corpus")


def configs(o: CorpusOptions):
    frames_cfg = FramesConfig(
        fps=o.fps,
        clip_frames=o.clip_frames,
        side=o.side,
        max_pixels=o.max_pixels,
        timeout_s=o.decode_timeout_s,
    )
    features_cfg = FeaturesConfig(
        weights=o.weights,
        device=o.device,
        batch_size=o.batch_size,
        seed=o.seed,
        processes=dataflow.model_callers(o),  # dataflow: torch threads sized on the worker
    )
    kmeans_cfg = km.KMeansConfig(
        k=o.kmeans_k,
        depth=o.kmeans_depth,
        niter=o.kmeans_niter,
        seed=o.seed,
        sample_size=o.kmeans_sample,
        sample_per_leaf=o.kmeans_sample_per_leaf,
        top_levels=o.kmeans_top_levels,
        too_few=o.kmeans_too_few,
        device=o.device,
    )
    return frames_cfg, features_cfg, kmeans_cfg


def text_configs(o: CorpusOptions) -> tuple[TranscriptsConfig, SentencesConfig]:
    from stages.text.youtube_transcripts import YouTubeTranscriptConfig

    languages = tuple(lang.strip() for lang in o.transcript_languages.split(",") if lang.strip())
    youtube = YouTubeTranscriptConfig(
        languages=languages,
        proxy_http=o.youtube_proxy,
        proxy_https=o.youtube_proxy,
        min_interval_s=o.youtube_min_interval_s,
        wall_clock_s=o.transcript_timeout_s,
        allow_private_hosts=o.allow_private_hosts,
        cookies=o.cookies,
    )
    transcripts = TranscriptsConfig(source=o.transcripts, languages=languages, youtube=youtube)
    sentences = SentencesConfig(
        splitter=o.sentence_splitter,
        punctuation_model=o.punctuation_model,
        device=o.device,
        batch_size=o.punctuation_batch_size,
        pause_s=o.pause_s,
        max_words=o.max_sentence_words,
        tokenizer=o.tokenizer,
    )
    return transcripts, sentences


def _load_rows(out: str, stage: str, video_ids: set[str] | None = None) -> list[dict]:
    path = (
        StageStore(out, stage).status_path
        if stage != "discover"
        else FileSystems.join(out, "discover", "videos.parquet")
    )
    if not FileSystems.exists(path):
        raise FileNotFoundError(f"{path} is missing: run the '{stage}' stage first")
    rows = read_table(path).to_pylist()
    return [r for r in rows if video_ids is None or r["video_id"] in video_ids]


COMPUTE = frozenset(
    {"transcripts", "sentences", "frames", "features", "kmeans", "tokens", "corpus"}
)


def acquire_config(o: CorpusOptions):
    from stages.acquire.polite import RetryPolicy
    from stages.acquire.youtube import AcquireConfig

    return AcquireConfig(
        max_height=o.max_height,
        max_filesize_mb=o.max_filesize_mb,
        socket_timeout_s=o.socket_timeout_s,
        wall_clock_s=o.download_timeout_s,
        min_interval_s=o.min_interval_s,
        retry=RetryPolicy(deadline_s=o.download_timeout_s),
        cookies=o.cookies,
        proxy=o.proxy,
        info_max_age_s=o.info_max_age_s,
        allow_private_hosts=o.allow_private_hosts,
    )


def filter_config(o: CorpusOptions):
    from stages.acquire.filter import FilterConfig, load_exclusions

    return FilterConfig(
        max_duration_s=o.max_duration_s,
        min_duration_s=o.min_duration_s,
        require_topic=not o.no_topic_filter,
        exclude_ids=load_exclusions(o.exclude) if o.exclude else frozenset(),
    )


def _load_status(out: str, stage: str) -> dict[str, str]:
    path = StageStore(out, stage).status_path
    if not FileSystems.exists(path):
        return {}
    return {r["video_id"]: r["status"] for r in read_table(path).to_pylist()}


def _kept(video: dict, filter_status: dict[str, str]) -> bool:
    """Whether the filter kept `video` (videos it never saw, e.g. local ones, are kept)."""
    return filter_status.get(video["video_id"], "ok") == "ok"


def build(p: beam.Pipeline, o: CorpusOptions) -> None:
    """Wire the requested stages into `p`."""
    stages = set(o.stages.split(","))
    out = o.out
    frames_cfg, features_cfg, kmeans_cfg = configs(o)
    # dataflow: a dry run reads nothing on the launcher; a stage not run is an empty input
    launcher_io = dataflow.launcher_io(o)
    load_rows = _load_rows if launcher_io else (lambda *_: [])
    load_status = _load_status if launcher_io else (lambda *_: {})

    if "discover" in stages:
        from stages.acquire.sample_world import WorldConfig

        world = WorldConfig(
            n_videos=o.sample_videos,
            seed=o.sample_seed,
            min_duration_s=o.sample_min_duration_s,
            max_duration_s=o.sample_max_duration_s,
        )
        acquire = acquire_config(o)
        videos, _ = p | "Discover" >> Discover(
            out, o.source, world, acquire, o.max_entries, o.retry_failed
        )
        ids = None
    else:
        records = load_rows(out, "discover")
        ids = {r["video_id"] for r in records}
        videos = p | "LoadVideos" >> beam.Create(records)

    if "filter" in stages:
        videos = videos | "Filter" >> FilterVideos(out, filter_config(o))
    elif stages & {"download", *COMPUTE}:
        videos = videos | "Kept" >> beam.Filter(_kept, load_status(out, "filter"))
    if "download" in stages:
        videos, download_status = videos | "Download" >> Download(
            out, acquire_config(o), o.force, o.retry_failed
        )
        _ = download_status | "DownloadStatus" >> WriteStatus(StageStore(out, "download"))
    elif stages & COMPUTE:
        videos = videos | "Downloaded" >> beam.ParDo(ReadDownloadedFn(out))

    transcripts_cfg, sentences_cfg = text_configs(o)
    if "transcripts" in stages:
        transcripts_status = (
            videos
            | "Transcripts" >> FetchTranscripts(out, transcripts_cfg, o.force, o.retry_failed)
            | "TranscriptsStatus" >> WriteStatus(StageStore(out, "transcripts"))
        )
    elif "sentences" in stages:
        transcripts_status = p | "LoadTranscripts" >> beam.Create(
            load_rows(out, "transcripts", ids)
        )
    if "sentences" in stages:
        sentences_status = (
            transcripts_status
            | "Sentences"
            >> SplitSentences(out, sentences_cfg, videos, o.force).with_resource_hints(
                **dataflow.gpu_hints(o, "sentences")  # dataflow: GPU right-fitting
            )
            | "SentencesStatus" >> WriteStatus(StageStore(out, "sentences"))
        )
    elif "corpus" in stages:
        path = StageStore(out, "sentences").status_path
        rows = load_rows(out, "sentences", ids) if launcher_io and FileSystems.exists(path) else []
        if not rows:
            log.warning("no sentences under %s: the corpus will be video-only", out)
        sentences_status = p | "LoadSentences" >> beam.Create(rows)

    if stages & {"frames", "features"}:
        with_features = "features" in stages
        stage = "features" if with_features else "frames"
        fp = stage_fingerprints(frames_cfg, features_cfg if with_features else None)[stage]
        parts = (
            videos
            | "Spread" >> beam.Reshuffle()
            | "SkipFinished"
            >> beam.ParDo(PartitionFinishedFn(StageStore(out, stage), fp, o.force)).with_outputs(
                "done", main="todo"
            )
        )
        ext = parts.todo | "Extract" >> ExtractS3DFeatures(
            out, frames_cfg, features_cfg if with_features else None
        ).with_resource_hints(**dataflow.gpu_hints(o, stage))  # dataflow: GPU right-fitting
        frames_done = (  # dataflow: a retried bundle may have written the files already
            parts.done | "FramesDone" >> beam.ParDo(CarryStatusFn(StageStore(out, "frames")))
            if with_features
            else parts.done
        )
        frames_new = (ext.frames_status, frames_done) | "FramesAll" >> beam.Flatten()
        _ = frames_new | "FramesStatus" >> WriteStatus(StageStore(out, "frames"))
        if with_features:
            features_status = (
                (ext.features_status, parts.done)
                | "FeaturesAll" >> beam.Flatten()
                | "FeaturesStatus" >> WriteStatus(StageStore(out, "features"))
            )
    if "features" not in stages and stages & {"kmeans", "tokens"}:
        features_status = p | "LoadFeatures" >> beam.Create(load_rows(out, "features", ids))

    centroids = FileSystems.join(out, "kmeans", "centroids.parquet")
    if "kmeans" in stages:
        features_fp = stage_fingerprints(frames_cfg, features_cfg)["features"]
        tree = features_status | "KMeans" >> km.FitOrLoadKMeans(
            out, kmeans_cfg, features_fp, o.force, videos=videos
        )
    elif "tokens" in stages:
        tree = p | "Centroids" >> beam.Create([centroids]) | "LoadTree" >> beam.Map(km.load_tree)

    if "tokens" in stages:
        tok = features_status | "Tokens" >> AssignVisualTokens(out, tree, o.force, o.device)
        tokens, tokens_status = (
            tok.tokens,
            tok.status | "TokensStatus" >> WriteStatus(StageStore(out, "tokens")),
        )
    elif "corpus" in stages:
        tokens_status = p | "LoadTokensStatus" >> beam.Create(load_rows(out, "tokens", ids))
        tokens = (
            tokens_status
            | "Usable" >> beam.Filter(lambda r: r["status"] in USABLE)
            | "ReadTokens"
            >> beam.Map(lambda r: StageStore(out, "tokens").read_data(r["video_id"]).to_pylist()[0])
        )

    if "corpus" in stages:
        built = tokens | "Corpus" >> BuildCorpus(out, videos, sentences_status, o.segment_tokens)
        missing = (
            tokens_status
            | "NoTokens" >> beam.Filter(lambda r: r["status"] not in USABLE)
            | "CorpusUpstream" >> beam.Map(upstream_status)
        )
        _ = (
            (built, missing)
            | "CorpusAll" >> beam.Flatten()
            | "WriteCorpusStatus" >> WriteStatus(StageStore(out, "corpus"))
        )


def report(o: CorpusOptions, seconds: float, result=None) -> str:
    """One screen: per stage run, videos in, usable, failures by reason; Beam counters."""
    ids = {r["video_id"] for r in _load_rows(o.out, "discover")}
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
        path = StageStore(o.out, stage).status_path
        if FileSystems.exists(path):
            rows = [r for r in read_table(path).to_pylist() if r["video_id"] in ids]
            lines.append(summarize(stage, rows))
    lines.append(f"done in {seconds:.1f}s; outputs under {o.out}/")
    return "\n".join(lines)


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
    if "sentences" in stages and punctuation and launcher_io:  # dataflow: not on a dry run
        from stages.text.punctuation import check_available

        check_available(o.punctuation_model)  # seconds now, not an error after the features
    for stage in stages if launcher_io else ():  # dataflow: not on a dry run
        StageStore(o.out, stage).sweep_temp_files()
    log.info("%s", dataflow.describe(options))
    start = time.monotonic()
    p = test_pipeline or beam.Pipeline(options=options)
    build(p, o)
    result = p.run()
    result.wait_until_finish()
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

    videos = {r["video_id"]: r for r in _load_rows(out, "discover")}
    status = _load_status(out, "filter")
    kept = [v for vid, v in videos.items() if status.get(vid, "ok") == "ok"]
    rejected = [(videos[vid], s) for vid, s in status.items() if s != "ok" and vid in videos]
    return plan_summary(kept, rejected)


def main():
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("apache_beam", "root"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sys.exit(dataflow.main(run))  # dataflow: one-line configuration errors, exit 0 when done


if __name__ == "__main__":
    main()
