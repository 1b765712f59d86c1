"""Pairs → decoded batches: deterministic steps, worker processes, bad files skipped."""

import shutil
from collections import Counter

import pytest
import torch

from model.clipbert.data import ClipDataset, Collate, StepBatches, loader, pad_text, usable_pairs
from model.clipbert.sampling import SamplingConfig
from schemas.status import Status
from tests.model.clipbert.world import colour_pairs

CFG = SamplingConfig(clips=2, frames=2, clip_s=0.4, side=16)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return colour_pairs(tmp_path_factory.mktemp("colours"))


def test_step_batches_are_distinct_deterministic_and_resume_exactly():
    full = list(StepBatches(10, 4, steps=5, seed=3))
    assert len(full) == 5 and all(len({i for _, _, i in b}) == 4 for b in full)
    assert [b[0][0] for b in full] == [0, 1, 2, 3, 4]
    assert list(StepBatches(10, 4, steps=5, start=3, seed=3)) == full[3:]
    assert full != list(StepBatches(10, 4, steps=5, seed=4))
    with pytest.raises(ValueError, match="at least 2"):
        StepBatches(1, 4, steps=5)


def test_grouped_batches_put_pairs_of_one_video_together():
    videos = list("aaaabbbbccccdddd")
    for batch in StepBatches(16, 8, steps=4, videos=videos, per_video=4):
        ids = [videos[i] for _, _, i in batch]
        assert len(ids) == 8 and ids[:4] == [ids[0]] * 4 and ids[4:] == [ids[4]] * 4
        assert ids[0] != ids[4]


def test_training_items_decode_the_same_clips_for_the_same_step_and_slot(pairs):
    data = ClipDataset(pairs, CFG, seed=0)
    a, b, other = data[(5, 1, 2)], data[(5, 1, 2)], data[(6, 1, 2)]
    assert a["frames"].shape == (2, 2, 16, 16, 3) and a["frames"].dtype == torch.uint8
    assert torch.equal(a["frames"], b["frames"]) and a["text_ids"] == (2665,)
    assert not torch.equal(a["frames"], other["frames"])  # another step: other positions
    dense = data[2]  # inference: uniform, no randomness
    assert torch.equal(dense["frames"], data[2]["frames"])


def test_worker_processes_give_the_same_batches_as_the_main_process(pairs):
    collate = Collate(101, 102, 0)
    batches = {}
    for workers in (0, 2):
        sampler = StepBatches(len(pairs), 4, steps=3, seed=1)
        batches[workers] = list(loader(ClipDataset(pairs, CFG), collate, batch_sampler=sampler,
                                       workers=workers))  # fmt: skip
    for a, b in zip(batches[0], batches[2], strict=True):
        assert torch.equal(a["frames"], b["frames"]) and torch.equal(a["text_ids"], b["text_ids"])
    first = batches[2][0]
    assert first["frames"].shape == (4, 2, 2, 16, 16, 3) and first["text_ids"].shape == (4, 3)
    assert first["text_ids"][:, 0].tolist() == [101] * 4 and first["skipped"] == []


def test_a_file_that_breaks_after_the_check_is_skipped_with_its_reason(pairs, tmp_path):
    broken = tmp_path / "broken.mp4"
    shutil.copy(pairs[0].path, broken)
    data = ClipDataset([pairs[0], pairs[2].__class__(**{**pairs[0].__dict__, "path": str(broken)})],
                       CFG)  # fmt: skip
    broken.write_bytes(b"\0" * 100)  # replaced between the probe and the decode
    batch = Collate(101, 102, 0)([data[(0, 0, 0)], data[(0, 1, 1)]])
    assert batch["index"].tolist() == [0] and len(batch["frames"]) == 1
    assert [s[:2] for s in batch["skipped"]] == [("red", "corrupt_media")]


def test_usable_pairs_drop_bad_files_up_front_and_count_them(pairs, tmp_path):
    (tmp_path / "garbage.mp4").write_bytes(b"x" * 999)
    bad = [pairs[0].__class__(**{**p.__dict__, "path": str(tmp_path / name)})
           for p, name in ((pairs[0], "garbage.mp4"), (pairs[1], "gone.mp4"))]  # fmt: skip
    kept, skipped = usable_pairs([*pairs, *bad], CFG)
    assert kept == pairs
    assert skipped == Counter({Status.CORRUPT_MEDIA: 1, Status.UNAVAILABLE: 1})


def test_text_is_wrapped_in_cls_sep_padded_and_cut():
    ids, mask = pad_text([[5, 6, 7, 8], [9]], cls_id=101, sep_id=102, pad_id=0, max_len=4)
    assert ids.tolist() == [[101, 5, 6, 102], [101, 9, 102, 0]]
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
