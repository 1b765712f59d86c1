"""Schemas of the captioning tables (`model.caption`), beside the corpus ones in `schemas`.

OUT/caption/features/videobert-<fingerprint>.parquet   CAPTION_FEATURES, one row per segment
"""

import pyarrow as pa

CAPTION_FEATURES = pa.schema(
    [
        pa.field("segment_id", pa.string(), nullable=False),  # "<video_id>:<index>"
        # Mean final hidden state at the segment's visual tokens, and at the template's masked
        # words (VideoBERT's hidden size each); the metadata records the model fingerprint.
        pa.field("video_mean", pa.list_(pa.float32()), nullable=False),
        pa.field("text_mean", pa.list_(pa.float32()), nullable=False),
    ]
)
