"""Timed words, sentence splitting (punctuation labels or pauses) and WordPiece ids."""

import re

import pytest

from stages.text.sentences import (
    SentencesConfig,
    Word,
    load_tokenizer,
    split_by_pauses,
    split_by_punctuation,
    timed_words,
)


def _snip(text, start, end):
    return {"text": text, "start_s": start, "end_s": end}


def _bare(sentences):
    """The words of the sentences, punctuation and case stripped."""
    return [re.sub(r"[.,?!:\-]", "", w).lower() for s in sentences for w in s.text.split()
            if re.sub(r"[.,?!:\-]", "", w)]  # fmt: skip


def test_words_share_their_snippet_time_by_length_and_never_go_backwards():
    words = timed_words([_snip("cut the tomato", 1.0, 3.0), _snip("now", 0.5, 0.9)])
    assert [w.text for w in words] == ["now", "cut", "the", "tomato"]  # unsorted cues sorted
    assert words[1].start_s == 1.0 and words[-1].end_s == pytest.approx(3.0)
    assert words[2].end_s - words[2].start_s < words[3].end_s - words[3].start_s
    starts = [w.start_s for w in words]
    assert starts == sorted(starts)


def test_overlapping_snippets_keep_word_order_and_times_monotonic():
    words = timed_words([_snip("a b c d", 0.0, 4.0), _snip("e f", 1.0, 2.0)])
    assert [w.text for w in words] == ["a", "b", "c", "d", "e", "f"]
    assert all(w.end_s >= w.start_s for w in words)


def test_times_are_clamped_into_the_video():
    words = timed_words([_snip("past the end", 9.0, 12.0), _snip("neg", -1.0, 0.5)], 10.0)
    assert all(0.0 <= w.start_s <= w.end_s <= 10.0 for w in words)
    assert words[0].start_s == 0.0 and words[-1].end_s == 10.0


def test_empty_and_whitespace_snippets_yield_no_words():
    assert timed_words([_snip("", 0, 1), _snip("   ", 1, 2)]) == []


def _words(texts, step=0.3, gaps=()):
    out, t = [], 0.0
    for i, text in enumerate(texts):
        t += 1.0 if i in gaps else 0.0
        out.append(Word(text, t, t + step))
        t += step
    return out


def test_punctuation_labels_make_cased_sentences_with_times():
    words = _words(["so", "i", "cut", "the", "tomato", "now", "we", "stir", "it", "okay"])
    labels = ["0", "0", "0", "0", ".", "0", "0", "0", "?", "."]
    sentences = split_by_punctuation(words, labels, max_words=40)
    assert [s.text for s in sentences] == ["So I cut the tomato.", "Now we stir it?", "Okay."]
    assert (sentences[0].start_s, sentences[0].end_s) == (words[0].start_s, words[4].end_s)
    assert [s.n_words for s in sentences] == [5, 4, 1]


def test_no_word_is_lost_or_duplicated_including_odd_words():
    texts = ["i'm", "gonna", "add", "1.5", "cups", "of", "crème", "fraîche", "—", "ok"] * 9
    words = _words(texts)
    labels = ["0", ",", "0", "0", ".", "0", "-", "0", ":", "?"] * 9
    for max_words in (1, 3, 7, 40):
        sentences = split_by_punctuation(words, labels, max_words)
        assert _bare(sentences) == [re.sub(r"[.,?!:\-]", "", t).lower() for t in texts
                                    if re.sub(r"[.,?!:\-]", "", t)]  # fmt: skip
        assert sum(s.n_words for s in sentences) == len(words)
        assert all(s.n_words <= max_words for s in sentences)


def test_long_unpunctuated_run_is_capped_at_a_comma_when_there_is_one():
    words = _words([f"w{i}" for i in range(25)])
    labels = ["0"] * 25
    labels[7] = ","
    sentences = split_by_punctuation(words, labels, max_words=10)
    assert [s.n_words for s in sentences] == [8, 10, 7]  # cut after the comma, then hard cuts


def test_label_count_mismatch_is_an_error():
    with pytest.raises(ValueError, match="labels"):
        split_by_punctuation(_words(["a", "b"]), ["0"], 40)


def test_pause_splitter_cuts_at_silences_and_keeps_the_asr_text():
    words = _words(["now", "we", "cut", "the", "tomato", "okay", "stir", "the", "egg"], gaps=(5, 6))
    sentences = split_by_pauses(words, pause_s=0.15, max_words=40)
    assert [s.text for s in sentences] == ["now we cut the tomato", "okay", "stir the egg"]
    assert sentences[1].start_s == words[5].start_s and sentences[1].end_s == words[5].end_s
    assert [s.n_words for s in split_by_pauses(words, 0.15, max_words=2)] == [2, 2, 1, 1, 2, 1]


def test_config_rejects_unknown_splitter():
    with pytest.raises(ValueError, match="splitter"):
        SentencesConfig(splitter="regex")


def test_bundled_tokenizer_is_bert_base_uncased_wordpiece():
    tok = load_tokenizer(None)
    assert tok.vocab_size == 30522
    ids = tok(["Now let me show you how to Cut the tomato."], add_special_tokens=False)
    expected = [2085, 2292, 2033, 2265, 2017, 2129, 2000, 3013, 1996, 20856, 1012]
    assert ids["input_ids"][0] == expected


def test_missing_tokenizer_names_the_fix(tmp_path):
    with pytest.raises(RuntimeError, match="--tokenizer"):
        load_tokenizer(str(tmp_path / "nope"))
