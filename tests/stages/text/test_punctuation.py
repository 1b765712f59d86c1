import huggingface_hub.constants
import pytest
import torch
from deepmultilingualpunctuation import PunctuationModel
from transformers import BertForTokenClassification

from stages.text.punctuation import (
    LABELS,
    PunctuationModelUnavailable,
    Punctuator,
    chunk_spans,
    random_punctuation_model,
)

TEXT = (
    "so now we take the onions and chop them finely then we add a pinch of salt and stir it "
    "for about two minutes until it is golden brown okay next the garlic goes in"
)
WORDS = TEXT.split()


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Nothing here may try the network (the Hub is unreachable)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> str:
    return random_punctuation_model(str(tmp_path_factory.mktemp("punct") / "tiny"))


@pytest.fixture(scope="session")
def context_free_dir(tmp_path_factory) -> str:
    """No layers and no position embeddings: a token's label depends on that token alone."""
    path = random_punctuation_model(str(tmp_path_factory.mktemp("punct") / "free"), layers=0)
    model = BertForTokenClassification.from_pretrained(path)
    with torch.no_grad():
        model.bert.embeddings.position_embeddings.weight.zero_()
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def punct(model_dir) -> Punctuator:
    return Punctuator(model_dir, max_tokens=32)


def _doc(n: int) -> list[str]:
    return [WORDS[(7 * i) % len(WORDS)] for i in range(n)]


@pytest.mark.parametrize(
    "doc",
    [
        ["hello"],
        _doc(200),
        ["we", "love", "pasta", "😀", "🍝🔥", "so", "good", "👍🏽"],
        ["добавьте", "соль", "塩を", "加えます", "أضف", "الملح", "नमक", "डालें"],
        ["the", "a-" * 150, "word", "x" * 300, "end"],
        ["add", "\u200b", "salt", "\u200b\u200c", "now"],
        ["add", "1.5", "cups", "or", "2,5", "dl", "3.14159.2.7"],
    ],
    ids=["one-word", "many-chunks", "emoji", "non-latin", "300-char", "zero-width", "numbers"],
)
def test_one_label_per_word(punct, doc):
    (labels,) = punct.labels([doc])
    assert len(labels) == len(doc)
    assert set(labels) <= set(LABELS)


def test_word_longer_than_the_model(model_dir):
    doc = ["start", "a-" * 400, "end"]  # 800 subwords > 510
    (labels,) = Punctuator(model_dir).labels([doc])
    assert len(labels) == 3


def test_empty_input(punct):
    assert punct.labels([]) == []
    assert punct.labels([[], ["salt"], []])[::2] == [[], []]
    assert punct.predict([]) == []
    assert punct.restore_punctuation("") == ""


def test_zero_width_word_gets_no_punctuation(punct):
    assert punct.labels([["salt", "\u200b", "pepper"]])[0][1] == "0"


def test_chunks_fit_and_overlap(punct):
    doc = _doc(200)
    counts = [len(ids) for ids in punct.tokenizer(doc, add_special_tokens=False)["input_ids"]]
    spans = [(s, e) for _, s, e in punct.chunks([doc])]
    assert len(spans) > 5 and spans[0][0] == 0 and spans[-1][1] == 200
    assert all(sum(counts[s:e]) <= 32 for s, e in spans)
    assert all(e1 - s2 == 5 for (_, e1), (s2, _) in zip(spans, spans[1:], strict=False))


def test_chunks_around_a_word_longer_than_max_tokens():
    # word 3 alone exceeds max_tokens: it gets a chunk of its own, which no other chunk overlaps
    spans = chunk_spans([4, 4, 4, 50, 4, 4], max_tokens=10, overlap_words=2)
    assert spans == [(0, 2), (1, 3), (3, 4), (4, 6)]


def test_batched_equals_one_doc_at_a_time(punct):
    docs = [_doc(150), ["hello"], [], _doc(40), WORDS]
    batched = punct.labels(docs)
    assert batched == [punct.labels([d])[0] for d in docs]
    assert batched == punct.labels(docs)  # deterministic
    assert [len(x) for x in batched] == [150, 1, 0, 40, len(WORDS)]
    assert len({label for doc in batched for label in doc}) >= 3  # the tiny model punctuates


def test_identical_chunks_are_all_labelled(punct):
    doc = ["salt"] * 100  # max_tokens 32, overlap 5: every chunk but the last is the same text
    (labels,) = punct.labels([doc])
    assert len(labels) == 100
    assert labels[0:27] == labels[27:54] == labels[54:81]  # chunks 0, 1, 2 label words 0..80


def test_parent_predict_breaks_on_identical_chunks_ours_does_not(punct):
    words = ["salt"] * 455  # the library's chunks [0:230] and [225:455] are equal
    with pytest.raises(AssertionError):
        PunctuationModel.predict(punct, words)
    rows = punct.predict(words)
    assert [w for w, _, _ in rows] == words
    assert all(label in LABELS and 0 < score <= 1 for _, label, score in rows)


def test_overlap_words_are_labelled_by_the_next_chunk(model_dir):
    """A chunk's last `overlap_words` words lack right context: a pipeline that marks exactly
    those words "?" must leave "?" only on the document's own last words."""
    p = Punctuator(model_dir, max_tokens=32, overlap_words=5)
    real = p.pipe

    def tail_marking_pipe(chunks, **kwargs):
        outputs = real(chunks, **kwargs)
        for text, tokens in zip(chunks, outputs, strict=True):
            words = text.split(" ")
            tail = len(" ".join(words[:-5])) if len(words) > 5 else 0
            for t in tokens:
                t["entity"] = "?" if t["start"] >= tail else "0"
        return outputs

    p.pipe = tail_marking_pipe
    doc = _doc(200)
    (labels,) = p.labels([doc])
    assert labels == ["0"] * 195 + ["?"] * 5


def test_chunked_equals_unchunked_for_a_context_free_model(context_free_dir):
    """Each word takes the label of its last subword, whichever chunk it falls in."""
    doc = _doc(120) + ["1.5", "cups", "pre-heated", "😀", "\u200b", "saltiness"]
    small = Punctuator(context_free_dir, max_tokens=16).labels([doc])[0]
    whole = Punctuator(context_free_dir).labels([doc])[0]
    p = Punctuator(context_free_dir)
    ids = p.pipe.tokenizer(doc, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = p.pipe.model(input_ids=torch.tensor([[i[-1] for i in ids if i]])).logits[0]
    by_token = iter(p.pipe.model.config.id2label[int(k)] for k in logits.argmax(-1))
    expected = [next(by_token) if i else "0" for i in ids]
    assert small == whole == expected
    assert expected[-2] == "0" and len(set(expected)) >= 2


def test_library_api_works_on_transformers_5(model_dir):
    text = "hello how are you i am fine"
    out = Punctuator(model_dir).restore_punctuation(text)
    assert [w.strip(".,?-:").lower() for w in out.split()] == text.split()
    assert any(c in out for c in ".,?-:")


@pytest.mark.parametrize(
    "model", ["/nonexistent/punctuation-model", "oliverguhr/fullstop-punctuation-multilang-large"]
)
def test_unavailable_model_says_what_to_do(model):
    with pytest.raises(PunctuationModelUnavailable) as e:
        Punctuator(model)
    assert model in str(e.value) and "--sentence_splitter=pause" in str(e.value)


def test_max_tokens_beyond_the_model_is_refused(model_dir):
    with pytest.raises(ValueError, match="max_tokens"):
        Punctuator(model_dir, max_tokens=1000)
