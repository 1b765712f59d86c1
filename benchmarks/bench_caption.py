"""Captioning: the captioner's training step ÷ a bare nn.Transformer step of the same shape, and
VideoBERT feature extraction in segments/s.

ours: `model.caption.captioner.Captioner` (per-part LayerNorm + projection of the segment's
feature parts, token + position embeddings, causal and padding masks, output projection, CE
with label smoothing), Adam. bare: `torch.nn.Transformer` of the same sizes on ready-made
(B, P, D) / (B, L, D) inputs with the causal mask, the same output projection and CE, Adam.
Shape: the paper's (D 128, 2 + 2 layers, dropout 0.4, batch 128), the VideoBERT + S3D parts
(256 + 256 + 1024 for a small-preset VideoBERT), captions of 16 WordPieces, 2,000 output ids
(YouCook II's training captions use about that many). Features: a random VideoBERT of the
`small` pretraining shape (H 256, 2 layers, 20,736 visual tokens), 16 visual tokens a segment.
"""

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.common import interleaved, row
from model.caption.captioner import Captioner
from model.caption.features import VideoBertFeatures
from model.config import VideoBertConfig
from model.modeling import VideoBertForPreTraining
from schemas.text import load_tokenizer

D, LAYERS, HEADS, FF, DROPOUT = 128, 2, 8, 512, 0.4
PARTS, VOCAB, LENGTH = [256, 256, 1024], 2000, 16


def captioner_step(batch: int, steps: int, device: str):
    torch.manual_seed(0)
    model = Captioner(PARTS, VOCAB, None, D, LAYERS, HEADS, FF, DROPOUT).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, sum(PARTS), device=device)
    tokens = torch.randint(4, VOCAB, (batch, LENGTH + 1), device=device)
    tokens[:, 0] = 1

    def run() -> int:
        for _ in range(steps):
            _, loss = model(x, tokens, 0.1)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        _sync(device)
        return steps * batch

    return run


def bare_step(batch: int, steps: int, device: str):
    torch.manual_seed(0)
    transformer = nn.Transformer(D, HEADS, LAYERS, LAYERS, FF, DROPOUT, batch_first=True)
    out = nn.Linear(D, VOCAB)
    model = nn.ModuleList([transformer, out]).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    src = torch.randn(batch, len(PARTS), D, device=device)
    tgt = torch.randn(batch, LENGTH, D, device=device)
    targets = torch.randint(4, VOCAB, (batch, LENGTH), device=device)
    causal = torch.ones(LENGTH, LENGTH, dtype=torch.bool, device=device).triu(1)

    def run() -> int:
        for _ in range(steps):
            h = transformer(src, tgt, tgt_mask=causal, tgt_is_causal=True)
            loss = F.cross_entropy(out(h).reshape(-1, VOCAB), targets.reshape(-1))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        _sync(device)
        return steps * batch

    return run


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def features_rate(device: str, n: int) -> float:
    config = VideoBertConfig(
        hidden_size=256, num_hidden_layers=2, num_attention_heads=4, intermediate_size=1024,
        num_visual_tokens=12**4, visual_k=12, visual_depth=4,
    )  # fmt: skip
    model = VideoBertForPreTraining(config).to(device)
    extractor = VideoBertFeatures(model, load_tokenizer(None), batch_size=64)
    g = torch.Generator().manual_seed(0)
    visuals = torch.randint(0, 12**4, (n, 16), generator=g).tolist()
    extractor(visuals[:64])  # warm up

    def run() -> int:
        extractor(visuals)
        _sync(device)
        return n

    return interleaved({"features": run}, repeats=2)["features"]


def main(quick: bool = False) -> list[str]:
    lines = []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        batch, steps = (128, 3 if quick else 10) if device == "cpu" else (128, 50)
        ours, bare = captioner_step(batch, steps, device), bare_step(batch, steps, device)
        ours(), bare()  # warm up
        rates = interleaved({"ours": ours, "bare": bare}, repeats=3 if quick else 5)
        threads = f"{torch.get_num_threads()} threads" if device == "cpu" else device
        lines += [
            f"caption: captioner training step, {threads}, D{D} L{LAYERS}+{LAYERS} B{batch} "
            f"T{LENGTH} parts {PARTS} vocab {VOCAB}",
            row("bare nn.Transformer step (same shape)", rates["bare"], "seg/s"),
            row("Captioner step", rates["ours"], "seg/s"),
            row("ours ÷ bare", rates["ours"] / rates["bare"], "ratio", "(goal ≥ 0.9)"),
        ]
        n = 256 if quick or device == "cpu" else 4096
        lines.append(row(f"VideoBERT features ({device}, H256 L2, 16 tokens)",
                         features_rate(device, n), "seg/s"))  # fmt: skip
    return lines
