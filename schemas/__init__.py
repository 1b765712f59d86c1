"""Every persisted table's pyarrow schema: the single source of truth.

Writers pass these schemas explicitly (never inferred). Layout on disk:

    OUT/discover/videos/part-*.parquet VIDEOS, one row per video that entered the DAG (sharded)
    OUT/<stage>/status/part-*.parquet  STATUS, one row per video per stage (sharded)
    OUT/frames/data/<video_id>.parquet CLIPS, the clip index + a thumbnail per clip
    OUT/features/data/<video_id>.parquet FEATURES, one 1024-d S3D vector per clip
    OUT/transcripts/data/<video_id>.parquet TRANSCRIPTS, cleaned ASR snippets in time order
    OUT/sentences/data/<video_id>.parquet SENTENCES, timed sentences + their WordPiece ids
    OUT/kmeans/centroids.parquet       CENTROIDS, the hierarchical k-means tree
    OUT/tokens/data/<video_id>.parquet TOKENS, one row per video: its visual tokens in time order
    OUT/corpus/segments-*-of-*.parquet SEGMENTS, the training corpus (sharded)
    OUT/sample/ground_truth.parquet    GROUND_TRUTH, the sample world's actions (eval only)
"""

import pyarrow as pa

from schemas.status import USABLE, Status

FEATURE_DIM = 1024

VIDEOS = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),  # "sample" | "local" | "youtube"
        pa.field("uri", pa.string()),  # where the media file is (local path or gs://)
        pa.field("title", pa.string()),
        pa.field("duration_s", pa.float64()),  # declared duration, null when unknown
        pa.field("category", pa.string()),
        pa.field("split", pa.string()),  # "train" | "heldout" | null
        pa.field("transcript_uri", pa.string()),  # sidecar transcript, null when none
        # Remote sources (yt-dlp metadata from one probe); null for local and sample videos.
        pa.field("url", pa.string()),  # the page the video was found at
        pa.field("channel", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("language", pa.string()),
        pa.field("live_status", pa.string()),  # not_live | is_live | is_upcoming | was_live ...
        pa.field("availability", pa.string()),  # public | unlisted | private | needs_auth ...
        pa.field("caption_languages", pa.list_(pa.string())),  # uploader-made subtitles
        pa.field("auto_caption_languages", pa.list_(pa.string())),  # YouTube ASR
    ]
)

STATUS = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),  # a schemas.status.Status value
        pa.field("error_message", pa.string()),  # the real error text, null when ok
        pa.field("items", pa.int64()),  # clips / tokens produced (0 when failed)
        pa.field("seconds", pa.float64()),  # wall time spent on this video
    ]
)

CLIPS = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("clip_index", pa.int32(), nullable=False),
        pa.field("start_s", pa.float64(), nullable=False),  # on the 20 fps grid: index * 1.5
        pa.field("end_s", pa.float64(), nullable=False),
        pa.field("source_times", pa.list_(pa.float32())),  # source pts (s) of each sampled frame
        pa.field("thumbnail", pa.binary()),  # JPEG of the clip's middle frame
    ]
)

FEATURES = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("clip_index", pa.int32(), nullable=False),
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),
        pa.field("feature", pa.list_(pa.float32(), FEATURE_DIM), nullable=False),
    ]
)

TRANSCRIPTS = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("snippet_index", pa.int32(), nullable=False),  # time order
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),  # >= start_s
        pa.field("text", pa.string(), nullable=False),  # cleaned (stages.text.captions.clean_text)
        pa.field("language_code", pa.string(), nullable=False),  # e.g. "en", "en-GB"
        pa.field("is_generated", pa.bool_(), nullable=False),  # ASR (True) or uploader-made
        pa.field("source", pa.string(), nullable=False),  # youtube|vtt|srt|json3|sample
    ]
)

SENTENCES = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("sentence_index", pa.int32(), nullable=False),  # time order
        pa.field("start_s", pa.float64(), nullable=False),  # first word's start
        pa.field("end_s", pa.float64(), nullable=False),  # last word's end, >= start_s
        pa.field("text", pa.string(), nullable=False),  # punctuated + cased (punctuation)
        pa.field("text_token_ids", pa.list_(pa.int32()), nullable=False),  # no [CLS]/[SEP]
        pa.field("splitter", pa.string(), nullable=False),  # "punctuation" | "pause"
    ]
)

CENTROIDS = pa.schema(
    [
        pa.field("level", pa.int8(), nullable=False),  # 1..depth
        pa.field("node", pa.int32(), nullable=False),  # base-k path id within its level
        pa.field("parent", pa.int32(), nullable=False),  # node id at level-1 (0 at level 1)
        pa.field("count", pa.int64(), nullable=False),  # training points assigned here
        # Points of the branch whose k-means fitted this centroid (the parent's, after faiss's
        # k x 256 subsampling). Added in issue 14: older files lack it and still read.
        pa.field("fitted", pa.int64()),
        pa.field("centroid", pa.list_(pa.float32()), nullable=False),
    ]
)

TOKENS = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("clip_index", pa.list_(pa.int32()), nullable=False),
        pa.field("start_s", pa.list_(pa.float64()), nullable=False),
        pa.field("end_s", pa.list_(pa.float64()), nullable=False),
        pa.field("tokens", pa.list_(pa.int32()), nullable=False),  # leaf ids in [0, k**depth)
    ]
)

SEGMENTS = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        # 0..n-1 in time order within a video: neighbours are index +- 1.
        pa.field("segment_index", pa.int32(), nullable=False),
        pa.field("num_segments", pa.int32(), nullable=False),  # n, the video's segment count
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),
        pa.field("text", pa.string()),  # the ASR sentence; null for video-only segments
        pa.field("text_token_ids", pa.list_(pa.int32())),  # WordPiece ids; null without text
        pa.field("sentence_index", pa.int32()),  # SENTENCES row it came from; null without
        # Clips [first_clip, first_clip + len(visual_tokens)); null when no clip is near the
        # sentence (e.g. speech after the last whole clip): a text-only segment.
        pa.field("first_clip", pa.int32()),
        pa.field("visual_tokens", pa.list_(pa.int32()), nullable=False),
        pa.field("split", pa.string()),
    ]
)

GROUND_TRUTH = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("action_index", pa.int32(), nullable=False),
        pa.field("verb", pa.string(), nullable=False),
        pa.field("noun", pa.string(), nullable=False),
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("end_s", pa.float64(), nullable=False),
        pa.field("narrated", pa.bool_(), nullable=False),  # whether the transcript says it
        pa.field("split", pa.string(), nullable=False),
    ]
)

__all__ = [
    "CENTROIDS",
    "CLIPS",
    "FEATURE_DIM",
    "FEATURES",
    "GROUND_TRUTH",
    "SEGMENTS",
    "STATUS",
    "SENTENCES",
    "TOKENS",
    "TRANSCRIPTS",
    "USABLE",
    "VIDEOS",
    "Status",
]
