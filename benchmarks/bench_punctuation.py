"""Punctuation: `Punctuator.labels` ÷ a bare transformers token-classification pipeline.

bare: `pipeline("token-classification", aggregation_strategy="none")` on the chunk texts that
`Punctuator` cuts (each chunk's words joined by spaces), in document order, same batch size;
and the same with the chunks sorted longest first (less padding), as `Punctuator` does.
ours: `Punctuator.labels` on the documents: subword counting, chunking, the pipeline, and one
label per word.
Model: a random BERT (hidden 256, 4 layers) with the fullstop labels and WordPiece vocab,
made by `random_punctuation_model` (the real XLM-R large model is not downloadable offline).
Text: lowercase, unpunctuated, cooking-ASR-like "videos" generated from a word list.
"""

import random
import time
from functools import partial

from benchmarks.common import CACHE, interleaved, row
from schemas.process import run_cli

BATCH = 8
PHRASES = (
    "so now we are going to take the onions and chop them really finely",
    "then you add a little bit of olive oil to the pan and let it heat up",
    "okay guys so this is the garlic i'm just going to crush it with the knife",
    "you want to stir it for about two to three minutes until it's golden brown",
    "and now the tomatoes go in along with a pinch of salt and some black pepper",
    "let that simmer on low heat for twenty minutes with the lid on",
    "meanwhile bring a large pot of water to the boil for the pasta",
    "um you can use whatever pasta you like i'm using spaghetti today",
    "just taste it and see if it needs more salt yeah that's perfect",
    "now we drain the pasta and save about half a cup of the cooking water",
    "toss everything together and finish it with fresh basil and parmesan",
    "alright that's it for today thanks for watching and see you next time",
)


def asr_docs(n_words: int, n_docs: int, seed: int = 0) -> list[list[str]]:
    """`n_docs` transcripts of about `n_words` words in all, of varying lengths."""
    rng = random.Random(seed)
    words = []
    while len(words) < n_words:
        words += rng.choice(PHRASES).split()
    cuts = sorted(rng.sample(range(1, n_words), n_docs - 1))
    return [words[a:b] for a, b in zip([0, *cuts], [*cuts, n_words], strict=True)]


def _model() -> str:
    from stages.text.punctuation import random_punctuation_model

    path = CACHE / "punct-bert-h256-l4"
    if not (path / "config.json").exists():
        random_punctuation_model(str(path), hidden=256, layers=4, heads=4)
    return str(path)


def main(quick: bool = False) -> list[str]:
    import huggingface_hub.constants
    import torch
    from transformers import pipeline

    huggingface_hub.constants.HF_HUB_OFFLINE = True  # everything here is local: never call the Hub
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: steadier side by side on a busy 2-core box

    from stages.text.punctuation import Punctuator

    path = _model()
    docs = asr_docs(1500 if quick else 4000, 4 if quick else 8)
    n_words = sum(map(len, docs))
    ours = Punctuator(path, batch_size=BATCH)
    bare = pipeline("token-classification", model=path, aggregation_strategy="none")
    texts = [" ".join(docs[d][s:e]) for d, s, e in ours.chunks(docs)]

    def run_ours() -> int:
        ours.labels(docs)
        return n_words

    def run_bare(texts: list[str]) -> int:
        bare(texts, batch_size=BATCH)
        return n_words

    by_length = sorted(texts, key=len, reverse=True)
    rates = interleaved(
        {
            "bare": partial(run_bare, texts),
            "sorted": partial(run_bare, by_length),
            "ours": run_ours,
        },
        repeats=5,
    )

    # Where our extra time goes: labels() minus the pipeline call, and chunks() alone (best of 3).
    pipe, inside, outside, chunking = ours.pipe, [0.0], [], []

    def timed_pipe(*args, **kwargs):
        t = time.perf_counter()
        out = pipe(*args, **kwargs)
        inside[0] += time.perf_counter() - t
        return out

    ours.pipe = timed_pipe
    for _ in range(3):
        inside[0], t = 0.0, time.perf_counter()
        ours.labels(docs)
        outside.append(time.perf_counter() - t - inside[0])
        t = time.perf_counter()
        ours.chunks(docs)
        chunking.append(time.perf_counter() - t)
    ours.pipe = pipe
    torch.set_num_threads(threads)
    labels_s = n_words / rates["ours"]

    ratio = rates["ours"] / rates["bare"]
    met = "met" if ratio >= 0.9 else "NOT met"
    tokens = sum(len(ours.tokenizer(t)["input_ids"]) for t in texts)
    return [
        f"punctuation: {n_words} words in {len(docs)} docs, {len(texts)} chunks "
        f"({tokens} tokens, ≤ {ours.max_tokens} + 2 each), batch {BATCH}, "
        "random BERT 256×4, 1 thread, best of interleaved runs",
        row("bare token-classification pipeline", rates["bare"], "words/s"),
        row("bare, chunks sorted by length (as ours)", rates["sorted"], "words/s"),
        row("Punctuator.labels", rates["ours"], "words/s"),
        row("Punctuator.labels ÷ bare", ratio, "ratio", f"(goal ≥ 0.90: {met})"),
        row(
            "Punctuator.labels ÷ bare sorted (our overhead alone)",
            rates["ours"] / rates["sorted"],
            "ratio",
        ),
        row("share of labels() outside the pipeline call", min(outside) / labels_s, "share"),
        row("  of which subword counting + chunking", min(chunking) / labels_s, "share"),
    ]


if __name__ == "__main__":
    run_cli(lambda: print("\n".join(main(quick=False))))
