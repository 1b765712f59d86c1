"""Forecasting baselines: unigram, bigram and transition counts from training token sequences."""

from model.forecast import CountBaselines, hits


def test_bigram_and_transition_counts_rank_what_followed_the_last_token():
    base = CountBaselines([[1, 1, 1, 2, 2, 3], [1, 1, 3, 3], [4]], k=3)
    assert base.unigram[:2] == [1, 3]  # 1 ×5, 3 ×3, 2 ×2, 4 ×1
    # after 1: 1 (3×), 2 (1×), 3 (1×); a transition never repeats
    assert base.next_after(1) == [1, 2, 3]
    assert base.transition_after(1) == [2, 3, 4]  # counts, then the unigram fills up
    assert base.transition_after(4) == [1, 3, 2]  # never seen: unigram without 4
    assert base.unigram_without(1) == [3, 2, 4]


def test_hits_count_a_target_in_the_top_k():
    assert hits([[1, 2], [3, 4]], [2, 5], ks=(1, 2)) == {"top1": 0.0, "top2": 0.5}
