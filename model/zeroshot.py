"""Zero-shot verb/noun classification as in the paper's Table 1: fill masked slots of a template.

The model reads "now let me show you how to [MASK] the [MASK]" (followed, cross-modally, by `[>]`
and a clip's visual tokens) and its predictions in the two slots are the verb and the noun.

**Open vocabulary** (the paper's metric, `open_vocabulary`): the candidates for a slot are the
model's whole text vocabulary as words: every WordPiece of the 30,522 that is a whole alphabetic
word of two letters or more (no `##` continuation, no lone letter: "w" is the first piece of
"whisk"; no `[unused]`/special token; never `[>]` or a visual id), plus every
label word, whatever its number of pieces. A single-piece word is scored by its log-probability
in a one-`[MASK]` slot (the softmax over the joint vocabulary, as the model predicts it); a word of
m pieces ("whisk" = w ##his ##k) fills its slot with m `[MASK]`s and scores the mean
log-probability of its pieces (log-probabilities renormalised over the text vocabulary).
Inflections are folded: each candidate is replaced by its lemma for the slot's part of speech
(model.words, lemminflect: "cuts", "cutting" → "cut"; "tomatoes" → "tomato"), a lemma keeps its
best-scoring form, and the top-k are the k best distinct lemmas; a clip is
right when one of them is any of its (lemmatised) labels.

**Label-restricted** (`label_restricted`, a second, easier metric): the same scores ranked only
among the dataset's label words (the sample world's 6 verbs / 6 nouns, YouCook II's 45 / 100).
Beside both, the trivial baselines: the most frequent training label (top-1) and the five most
frequent (top-5).

`fill_slot` is the reusable piece (also for captioning): scores of candidate words in one masked
slot of any text, with or without visual tokens, for any `MaskedLM`.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from model.predict import MaskedLM
from model.words import lemma

TEMPLATE = ("now let me show you how to", "the")  # "... to [MASK] the [MASK]"
TOPK = (1, 5)
SLOTS = {"verb": ("VERB", 0), "noun": ("NOUN", 1)}


@dataclass(frozen=True)
class Candidates:
    """Candidate words for a slot: their WordPiece ids and lemmas."""

    words: list[str]
    pieces: list[list[int]]
    lemmas: list[str]

    @classmethod
    def open_vocabulary(cls, tokenizer, labels: list[str], upos: str) -> "Candidates":
        """Every single-piece alphabetic whole word of the tokenizer's vocabulary (of two letters
        or more: a lone letter is the first piece of a longer word, "w" of "whisk") + the
        labels."""
        vocab = tokenizer.get_vocab()
        words = sorted(w for w in vocab if w.isalpha() and w.isascii() and len(w) > 1)
        words += sorted(set(labels) - set(words))
        return cls.of(tokenizer, words, upos)

    @classmethod
    def of(cls, tokenizer, words: list[str], upos: str) -> "Candidates":
        pieces = [tokenizer(w, add_special_tokens=False)["input_ids"] for w in words]
        return cls(list(words), pieces, [lemma(w, upos) for w in words])


def fill_slot(
    lm: MaskedLM,
    prefix: list[int],
    suffix: list[int],
    visuals: list[list[int] | None],
    candidates: list[list[int]],
) -> np.ndarray:
    """[n_inputs, n_candidates] scores of candidate words (WordPiece id lists) in the slot between
    `prefix` and `suffix` (WordPiece ids; `suffix` may hold other [MASK]s): a candidate of m pieces
    fills the slot with m [MASK]s and scores the mean log-probability of its pieces. Inputs are
    `[CLS] prefix slot suffix [>] visual [SEP]` (no `[>]` and video when visual is None)."""
    scores = np.zeros((len(visuals), len(candidates)), dtype=np.float32)
    by_len = defaultdict(list)
    for c, ids in enumerate(candidates):
        by_len[len(ids)].append(c)
    for m, cs in sorted(by_len.items()):
        text = prefix + [lm.mask_token_id] * m + suffix
        pos = list(range(1 + len(prefix), 1 + len(prefix) + m))
        inputs = [lm.encode(text, v) for v in visuals]
        ids = torch.tensor([candidates[c] for c in cs])  # (n_m, m)
        for i, lp in enumerate(lm.log_probs(inputs, [pos] * len(inputs))):
            lp = lp[:, : lm.text_vocab_size].log_softmax(-1)  # over the words only
            scores[i, cs] = lp[torch.arange(m)[None, :], ids].mean(1).numpy()
    return scores


class SlotScorer:
    """Scores candidate words in the template's verb and noun slots."""

    def __init__(self, lm: MaskedLM, tokenizer, verbs: Candidates, nouns: Candidates):
        self.lm, self.candidates = lm, {"verb": verbs, "noun": nouns}
        pieces = lambda t: tokenizer(t, add_special_tokens=False)["input_ids"]  # noqa: E731
        self.prefix, self.mid = (pieces(t) for t in TEMPLATE)

    def scores(self, what: str, visuals: list[list[int] | None]) -> np.ndarray:
        mask = self.lm.mask_token_id
        if SLOTS[what][1] == 0:
            prefix, suffix = self.prefix, self.mid + [mask]
        else:
            prefix, suffix = self.prefix + [mask] + self.mid, []
        return fill_slot(self.lm, prefix, suffix, visuals, self.candidates[what].pieces)


def top_lemmas(scores: np.ndarray, lemmas: list[str], k: int) -> list[list[str]]:
    """Per row, the k best distinct lemmas (a lemma scores as its best form)."""
    out = []
    for row in scores:
        order = np.argsort(-row, kind="stable")
        seen: list[str] = []
        for c in order:
            if lemmas[c] not in seen:
                seen.append(lemmas[c])
                if len(seen) == k:
                    break
        out.append(seen)
    return out


def hits_at_k(ranked: list[list[str]], labels: list[set[str]], ks=TOPK) -> dict[str, float]:
    """Share of rows whose top-k holds any of the row's labels."""
    return {
        f"top{k}": float(
            np.mean([bool(set(r[:k]) & lab) for r, lab in zip(ranked, labels, strict=True)])
        )
        if labels
        else float("nan")
        for k in ks
    }


def topk_accuracy(scores: np.ndarray, labels: list[set[int]], ks=TOPK) -> dict[str, float]:
    """Share of rows whose top-k (by score, column indices) holds any of the row's labels."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = [list(map(int, row[: max(ks)])) for row in order]
    return hits_at_k(ranked, labels, ks)


def most_frequent(train_labels: list[list[str]], k: int = max(TOPK)) -> list[str]:
    """The k most frequent training labels (ties alphabetical): the trivial baselines."""
    counts = Counter(w for labels in train_labels for w in set(labels))
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def _rankings(scores: np.ndarray, cands: Candidates, vocabulary: list[str], k: int) -> dict:
    """Open-vocabulary (all candidates) and label-restricted top-k lemmas per row."""
    allowed = set(vocabulary)
    in_vocab = [c for c, w in enumerate(cands.lemmas) if w in allowed]
    return {
        "open_vocabulary": top_lemmas(scores, cands.lemmas, k),
        "label_restricted": top_lemmas(scores[:, in_vocab], [cands.lemmas[c] for c in in_vocab], k),
    }


def zero_shot(
    scorer: SlotScorer,
    examples: list[dict],
    vocabularies: dict[str, list[str]],
    train_labels: dict[str, list[list[str]]],
    bert: SlotScorer | None = None,
) -> dict:
    """Table 1 for one dataset: VideoBERT cross-modal and language prior, the text-only BERT's
    prior (`bert`), and the most-frequent-label baselines, open-vocabulary and label-restricted.
    Examples: {"visual": leaf ids, "verbs": [...], "nouns": [...]} (lemmatised labels)."""
    k = max(TOPK)
    result = {"n_clips": len(examples)}
    for what, (upos, _) in SLOTS.items():
        vocab = vocabularies[what]
        cands = scorer.candidates[what]
        labels = [{lemma(w, upos) for w in e[f"{what}s"]} & set(vocab) for e in examples]
        keep = [i for i, lab in enumerate(labels) if lab]
        labels = [labels[i] for i in keep]
        methods = {
            "cross_modal": scorer.scores(what, [examples[i]["visual"] for i in keep]),
            "language_prior": scorer.scores(what, [None]),
        }
        if bert is not None:
            methods["bert_prior"] = bert.scores(what, [None])
        r = {"vocabulary": len(vocab), "n": len(keep), "candidates": len(set(cands.lemmas))}
        for method, scores in methods.items():
            ranked = _rankings(scores, cands, vocab, k)
            for metric, rows in ranked.items():
                rows = rows if len(rows) == len(keep) else rows * len(keep)  # a prior: one row
                r.setdefault(metric, {})[method] = hits_at_k(rows, labels)
                if method != "cross_modal":
                    r[metric][method]["top5_words"] = rows[0] if rows else []
        frequent = most_frequent(train_labels[what], k)
        r["most_frequent"] = {"words": frequent, **hits_at_k([frequent] * len(keep), labels)}
        result[what] = r
    return result
