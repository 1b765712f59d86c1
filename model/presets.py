"""Pretraining presets (`--preset small|paper`) and what in a preset departs from the paper.

`paper` is the paper's recipe (Sun et al. 2019, §4.2 and §3): BERT-large uncased, the raw S3D
centroids as visual embeddings, BERT's own MLM bias for the WordPieces, its next-sentence head as
the alignment head (rows swapped to our label convention), three regimes 1:1:1, up to 3
segments, subsampling up to 5, 15% masking, batch 128, 0.5M steps, Adam lr 1e-5 with linear decay.
Warmup (10k) and max_len are BERT's, not stated in the paper. `small` is the default: a recipe
that learns on the ~100 training sentences of the sample world in a minute on 2 CPU cores; every
way it differs is listed by `departures` (with the measured reason) and logged at start.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    init: str = "random"
    """random | minilm-local | a Hub name (bert-large-uncased) | a directory."""
    hidden_size: int = 256
    """Used by init=random (pretrained inits bring their own sizes)."""
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    dropout: float = 0.1
    visual_init: str = "whiten"
    """raw (the paper: centroids copied; projected only when their size differs from the hidden
    size) | whiten (centred, projected, whitened, scaled to the text embeddings' norm)."""
    prior_bias: str = "all"
    """MLM decoder bias at start: all (every id from the corpus' log unigram frequencies) | new
    (the text checkpoint's own for WordPieces; `[>]`/visual ids from the visual tokens'
    frequencies, centred on the mean WordPiece bias) | none (the checkpoint's; new ids 0)."""
    alignment_init: str = "swap"
    """swap (BERT's next-sentence head, rows swapped: its class 0 'is next' = our class 1
    'aligned') | fresh | copy (as is: labels inverted)."""
    batch_size: int = 64
    """Examples per optimizer step, over all ranks and accumulation steps."""
    grad_accum: int = 1
    steps: int = 400
    lr: float = 1e-3
    warmup_steps: int = 40
    weight_decay: float = 0.0
    clip: float = 1.0
    max_len: int = 64
    max_concat: int = 1
    max_subsample: int = 2
    mask_prob: float = 0.15
    text_video_mask_prob: float = 0.8
    """Masking rate of the words in text+video examples (their visual tokens: mask_prob). Higher
    makes the model read the video for the words instead of recalling the sentence."""
    regime_weights: str = "0,0.5,2"
    """Relative frequency of text, video, text_video examples (small: over seeds 0-4 on the
    sample corpus, 0,0.5,2 met the learnability goal on every seed, 0,1,2 missed it on one)."""
    seed: int = 0
    checkpoint_every: int = 200
    log_every: int = 10


PRESETS = {
    # The default: ~1-3 minutes on 2 CPU cores on the sample corpus; see `departures`.
    "small": Preset(),
    "paper": Preset(
        init="bert-large-uncased",
        visual_init="raw",
        prior_bias="new",
        alignment_init="swap",
        batch_size=128,
        steps=500_000,
        lr=1e-5,
        warmup_steps=10_000,
        max_len=128,
        max_concat=3,
        max_subsample=5,
        text_video_mask_prob=0.15,
        regime_weights="1,1,1",
        checkpoint_every=10_000,
        log_every=100,
    ),
}
CHOICES = {
    "visual_init": ("raw", "whiten"),
    "prior_bias": ("all", "new", "none"),
    "alignment_init": ("swap", "fresh", "copy"),
}

# Why a preset may depart from the paper: measured on the sample corpus (README, "Pretraining").
REASONS = {
    "init": "a pretrained BERT-large needs the Hub and hours; `random` H256 L2 learns the sample "
    "world in a minute",
    "visual_init": "S3D centroids put most of their spread in one direction (84% on the sample "
    "corpus): the frozen tied decoder could not tell the visual tokens apart",
    "prior_bias": "the 30k WordPieces the corpus never uses would first have to be unlearned",
    "alignment_init": "measures the inverted start",
    "regime_weights": "with ~100 training sentences the text-only regime lets the model recall a "
    "masked word from its memorised sentence instead of reading the video",
    "text_video_mask_prob": "same: masking most words of a text+video example makes it read the "
    "video",
    "max_concat": "single segments: the words of a neighbour segment give the answer away",
    "max_subsample": "short sample clips: a rate of 5 leaves one or two tokens",
}
DATA_FIELDS = ("batch_size", "steps", "lr", "max_len", "max_concat", "max_subsample", "mask_prob")
DATA_FIELDS += ("text_video_mask_prob", "regime_weights")


def departures(preset: Preset) -> list[str]:
    """What in `preset` departs from the paper's recipe (the `paper` preset), with the reason."""
    paper, out = PRESETS["paper"], []
    for name in ("init", "visual_init", "alignment_init", *DATA_FIELDS):
        ours, theirs = getattr(preset, name), getattr(paper, name)
        if ours != theirs:
            reason = REASONS.get(name)
            out.append(f"{name}={ours} (paper {theirs})" + (f": {reason}" if reason else ""))
    if preset.prior_bias != paper.prior_bias:
        kept = "none" if preset.init == "random" else "discards the text BERT's own WordPiece bias"
        what = f"prior_bias={preset.prior_bias} (paper: BERT's bias kept, new ids initialised"
        out.append(f"{what}; {kept}): {REASONS['prior_bias']}")
    return out


def check_choices(preset: Preset) -> None:
    for name, allowed in CHOICES.items():
        if getattr(preset, name) not in allowed:
            raise ValueError(f"--{name} {getattr(preset, name)!r}: expected one of {allowed}")
