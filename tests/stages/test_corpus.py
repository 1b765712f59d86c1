from schemas import Status
from stages.corpus import corpus_status, video_segments
from stages.store import status_row


def _tokens(n):
    return {
        "video_id": "v",
        "clip_index": list(range(n)),
        "start_s": [1.5 * i for i in range(n)],
        "end_s": [1.5 * (i + 1) for i in range(n)],
        "tokens": [100 + i for i in range(n)],
    }


def test_segments_of_16_keep_every_token_in_order():
    segs = list(video_segments(_tokens(35), "train"))
    assert [len(s["visual_tokens"]) for s in segs] == [16, 16, 3]
    assert [t for s in segs for t in s["visual_tokens"]] == [100 + i for i in range(35)]
    assert [s["segment_index"] for s in segs] == [0, 1, 2]
    assert segs[1]["first_clip"] == 16 and segs[1]["start_s"] == 24.0 and segs[1]["end_s"] == 48.0
    assert all(s["text"] is None and s["split"] == "train" for s in segs)


def test_corpus_status_counts_segments_or_names_upstream_failure():
    assert corpus_status(status_row("v", "tokens", Status.OK, items=33))["items"] == 3
    failed = corpus_status(status_row("v", "tokens", Status.UPSTREAM_FAILED, "x"))
    assert failed["status"] == "upstream_failed" and failed["error_message"] == (
        "tokens: upstream_failed"
    )
