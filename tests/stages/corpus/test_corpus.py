"""Segment alignment: sentences ↔ the clips of their span, video-only stretches of 16."""

import pyarrow as pa

from schemas import SEGMENTS, Status
from stages.corpus.segments import upstream_status, video_segments
from stages.store.status import status_row


def _tokens(n):
    return {
        "video_id": "v",
        "clip_index": list(range(n)),
        "start_s": [1.5 * i for i in range(n)],
        "end_s": [1.5 * (i + 1) for i in range(n)],
        "tokens": [100 + i for i in range(n)],
    }


def _sentence(i, start, end, text="Cut the tomato."):
    return {"sentence_index": i, "start_s": start, "end_s": end, "text": text,
            "text_token_ids": [3013, 1996, 20856, 1012]}  # fmt: skip


def _by_text(segs):
    return {s["text"]: s for s in segs if s["text"]}


def test_without_sentences_segments_of_16_keep_every_token_in_order():
    segs = video_segments(_tokens(35), [], "train")
    assert [len(s["visual_tokens"]) for s in segs] == [16, 16, 3]
    assert [t for s in segs for t in s["visual_tokens"]] == [100 + i for i in range(35)]
    assert [s["segment_index"] for s in segs] == [0, 1, 2]
    assert {s["num_segments"] for s in segs} == {3}
    assert segs[1]["first_clip"] == 16 and segs[1]["start_s"] == 24.0 and segs[1]["end_s"] == 48.0
    assert all(s["text"] is None and s["split"] == "train" for s in segs)
    pa.Table.from_pylist(segs, schema=SEGMENTS)  # the rows fit the schema


def test_a_sentence_takes_the_clips_overlapping_its_span():
    segs = video_segments(_tokens(10), [_sentence(0, 2.0, 4.6)], None)
    s = _by_text(segs)["Cut the tomato."]
    assert s["first_clip"] == 1 and s["visual_tokens"] == [101, 102, 103]  # [1.5,3) [3,4.5) [4.5,6)
    assert (s["start_s"], s["end_s"], s["sentence_index"]) == (2.0, 4.6, 0)
    assert s["text_token_ids"] == [3013, 1996, 20856, 1012]
    # The uncovered clips before and after become video-only segments, all in time order.
    assert [(x["first_clip"], len(x["visual_tokens"]), x["text"] is None) for x in segs] == [
        (0, 1, True), (1, 3, False), (4, 6, True)
    ]  # fmt: skip
    assert [x["segment_index"] for x in segs] == [0, 1, 2]


def test_clip_edges_are_half_open_and_neighbours_may_share_a_clip():
    segs = video_segments(_tokens(4), [_sentence(0, 1.5, 3.0, "A."), _sentence(1, 2.9, 4.0, "B.")],
                          None)  # fmt: skip
    by = _by_text(segs)
    assert by["A."]["visual_tokens"] == [101]  # ends exactly where clip 2 starts
    assert by["B."]["visual_tokens"] == [101, 102]  # clip 1 is shared
    assert [x["text"] for x in segs] == [None, "A.", "B.", None]


def test_zero_length_sentence_takes_the_clip_containing_its_instant():
    segs = video_segments(_tokens(4), [_sentence(0, 3.0, 3.0, "Hm.")], None)
    assert _by_text(segs)["Hm."]["visual_tokens"] == [102]


def test_sentence_near_but_outside_the_clips_takes_the_nearest_clip():
    tokens = _tokens(4)  # clips cover [0, 6); say clips start at 0.5 after a dropped lead-in
    segs = video_segments(tokens, [_sentence(0, 6.2, 7.0, "Bye.")], None)
    assert _by_text(segs)["Bye."]["visual_tokens"] == [103]  # the dropped tail: nearest clip
    shifted = {**tokens, "start_s": [s + 1.0 for s in tokens["start_s"]],
               "end_s": [e + 1.0 for e in tokens["end_s"]]}  # fmt: skip
    segs = video_segments(shifted, [_sentence(0, 0.0, 0.4, "Hi.")], None)
    assert _by_text(segs)["Hi."]["visual_tokens"] == [100]  # before the first clip


def test_sentence_far_past_the_last_clip_is_text_only():
    segs = video_segments(_tokens(4), [_sentence(0, 30.0, 31.0, "Later.")], None)
    s = _by_text(segs)["Later."]
    assert s["first_clip"] is None and s["visual_tokens"] == []
    assert segs[-1] is s and sum(len(x["visual_tokens"]) for x in segs) == 4  # nothing lost
    pa.Table.from_pylist(segs, schema=SEGMENTS)


def test_every_clip_is_in_some_segment_and_stretches_between_sentences_are_cut_at_16():
    sentences = [_sentence(0, 0.0, 2.0, "A."), _sentence(1, 40.0, 41.0, "B.")]
    segs = video_segments(_tokens(40), sentences, None)
    spans = [(s["first_clip"], len(s["visual_tokens"])) for s in segs if s["visual_tokens"]]
    covered = {c for first, n in spans for c in range(first, first + n)}
    assert covered == set(range(40))
    video_only = [len(s["visual_tokens"]) for s in segs if s["text"] is None]
    assert video_only == [16, 8, 12]  # clips 2..17, 18..25 | (B: 26, 27) | 28..39
    starts = [s["start_s"] for s in segs]
    assert starts == sorted(starts)


def test_upstream_status_names_the_tokens_failure():
    failed = upstream_status(status_row("v", "tokens", Status.UPSTREAM_FAILED, "x"))
    assert failed["status"] == "upstream_failed" and failed["error_message"] == (
        "tokens: upstream_failed"
    )
