"""The captioner: a small transformer encoder-decoder over a segment's features (the paper's §4.6).

    features (B, F) ─ standardised, split into parts ─► per part LayerNorm + Linear → (B, P, D)
        + part embedding ─► nn.Transformer (2 + 2 layers, D = 128, dropout 0.4) ─► (B, L, V)
                                             caption so far (B, L) ─┘

The encoder input is one vector per feature *part* of the segment (P = 1 for S3D only; the
VideoBERT video mean and masked-word mean for VideoBERT, P = 2; + the S3D mean, P = 3): the
segment-level vectors the paper concatenates, kept apart so the decoder attends to each.
Outputs are WordPiece ids (the corpus tokenizer's), restricted to the pieces of the training
captions (`CaptionVocab`: V ≈ a few hundred on the sample world, a few thousand on YouCook II
instead of 30,522). Decoding: greedy (`beam=1`) or beam search with length normalisation.
Saved with `save_pretrained` / loaded with `from_pretrained` (huggingface_hub's mixin:
config.json + model.safetensors).
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

PAD, BOS, EOS, UNK = 0, 1, 2, 3
RESERVED = 4


class CaptionVocab:
    """WordPiece ids <-> the captioner's compact output ids (PAD, BOS, EOS, UNK, then pieces)."""

    def __init__(self, wordpieces: Sequence[int]):
        self.wordpieces = sorted(set(int(w) for w in wordpieces))
        self.index = {w: RESERVED + i for i, w in enumerate(self.wordpieces)}

    @classmethod
    def build(cls, tokenizer, captions: Sequence[str]) -> "CaptionVocab":
        ids = tokenizer(list(captions), add_special_tokens=False)["input_ids"]
        return cls(sorted({i for row in ids for i in row}))

    def __len__(self) -> int:
        return RESERVED + len(self.wordpieces)

    def encode(self, tokenizer, caption: str, max_len: int) -> list[int]:
        """[BOS] pieces [EOS] (pieces unknown to the vocabulary: UNK), at most max_len + 1 ids."""
        pieces = tokenizer(caption, add_special_tokens=False)["input_ids"][: max_len - 1]
        return [BOS, *(self.index.get(p, UNK) for p in pieces), EOS]

    def decode(self, tokenizer, ids: Sequence[int]) -> str:
        pieces = [self.wordpieces[i - RESERVED] for i in ids if i >= RESERVED]
        return tokenizer.decode(pieces, skip_special_tokens=True).strip()


class Captioner(nn.Module, PyTorchModelHubMixin):
    def __init__(
        self,
        input_dims: list[int],
        vocab_size: int,
        wordpieces: list[int] | None = None,
        d_model: int = 128,
        num_layers: int = 2,
        nhead: int = 8,
        dim_feedforward: int = 512,
        dropout: float = 0.4,
        max_len: int = 32,
    ):
        super().__init__()
        self.input_dims, self.max_len = list(input_dims), max_len
        self.wordpieces = list(wordpieces or [])  # in config.json: the output vocabulary
        self.proj = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d_model)) for d in input_dims
        )
        self.part = nn.Parameter(torch.zeros(len(input_dims), d_model))
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=PAD)
        self.pos = nn.Embedding(max_len + 1, d_model)
        self.transformer = nn.Transformer(
            d_model, nhead, num_layers, num_layers, dim_feedforward, dropout, batch_first=True
        )
        self.out = nn.Linear(d_model, vocab_size)
        # Per-column standardisation from the training features (`set_feature_stats`), saved with
        # the weights: random-weight S3D features share one large component, and without this
        # the differences between segments are too small for the captioner to pick up.
        self.register_buffer("feature_mean", torch.zeros(sum(input_dims)))
        self.register_buffer("feature_std", torch.ones(sum(input_dims)))

    @torch.no_grad()
    def set_feature_stats(self, features: torch.Tensor) -> None:
        """Standardise inputs with the mean and std of these (training) features (B, F)."""
        self.feature_mean.copy_(features.mean(0))
        self.feature_std.copy_(features.std(0, unbiased=False).clamp(min=1e-6))

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """(B, F) → memory (B, P, D)."""
        features = (features - self.feature_mean) / self.feature_std
        parts = features.split(self.input_dims, dim=1)
        x = torch.stack([p(f) for p, f in zip(self.proj, parts, strict=True)], 1) + self.part
        return self.transformer.encoder(x)

    def decode(self, tokens: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """tokens (B, L) → logits (B, L, V), each position seeing the tokens up to itself."""
        length = tokens.shape[1]
        x = self.embed(tokens) + self.pos(torch.arange(length, device=tokens.device))
        causal = torch.ones(length, length, dtype=torch.bool, device=tokens.device).triu(1)
        pad = tokens == PAD
        h = self.transformer.decoder(
            x, memory, tgt_mask=causal, tgt_is_causal=True, tgt_key_padding_mask=pad
        )
        return self.out(h)

    def forward(
        self, features: torch.Tensor, tokens: torch.Tensor, label_smoothing: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (B, L-1, V), mean CE of predicting tokens[:, 1:]) for captions (B, L) that start
        with BOS and are right-padded with PAD (ignored)."""
        logits = self.decode(tokens[:, :-1], self.encode(features))
        targets = tokens[:, 1:]
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
            ignore_index=PAD, label_smoothing=label_smoothing,
        )  # fmt: skip
        return logits, loss

    @torch.no_grad()
    def generate(
        self, features: torch.Tensor, beam: int = 1, max_len: int | None = None, alpha: float = 0.6
    ) -> list[list[int]]:
        """Compact ids of each segment's caption (no BOS/EOS). beam=1: greedy; else beam search,
        the finished hypotheses ranked by log-prob / length**alpha."""
        max_len = min(max_len or self.max_len, self.max_len)
        memory = self.encode(features).repeat_interleave(beam, 0)  # (B*K, P, D)
        n, vocab = features.shape[0], self.out.out_features
        seqs = torch.full((n * beam, 1), BOS, dtype=torch.long, device=features.device)
        scores = torch.zeros(n, beam, device=features.device)
        scores[:, 1:] = float("-inf")  # one live hypothesis until the first expansion
        done = torch.zeros(n * beam, dtype=torch.bool, device=features.device)
        for _ in range(max_len):
            logp = self.decode(seqs, memory)[:, -1].float().log_softmax(-1)  # (B*K, V)
            logp[:, [PAD, BOS, UNK]] = float("-inf")
            logp[done] = float("-inf")
            logp[done, PAD] = 0.0  # a finished hypothesis only grows PAD, at no cost
            top, idx = (scores.view(-1, 1) + logp).view(n, beam * vocab).topk(beam, dim=1)
            rows = (torch.arange(n, device=idx.device)[:, None] * beam + idx // vocab).view(-1)
            token = (idx % vocab).view(-1, 1)
            seqs = torch.cat([seqs[rows], token], 1)
            done = done[rows] | (token[:, 0] == EOS) | (token[:, 0] == PAD)
            scores = top
            if bool(done.all()):
                break
        lengths = ((seqs[:, 1:] != PAD) & (seqs[:, 1:] != EOS)).sum(1).clamp(min=1)
        normed = scores.view(-1) / lengths.float() ** alpha
        best = normed.view(n, beam).argmax(1) + torch.arange(n, device=seqs.device) * beam
        return [[t for t in row if t >= RESERVED] for row in seqs[best, 1:].tolist()]


def pad_batch(captions: Sequence[Sequence[int]]) -> torch.Tensor:
    """(B, L) right-padded with PAD."""
    length = max(len(c) for c in captions)
    return torch.tensor([list(c) + [PAD] * (length - len(c)) for c in captions], dtype=torch.long)
