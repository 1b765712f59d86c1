"""Pretraining tokens/s: our training step ÷ plain eager BertForMaskedLM, same config and batch.

ours: VideoBertForPreTraining, SDPA attention, the MLM head only on the masked 15%, frozen tied
input embeddings, plus the alignment head. plain: BertForMaskedLM(attn_implementation="eager"),
full-vocabulary logits at every position, every parameter trainable. Both: the paper's joint
vocabulary (30,522 + [>] + 12**4 = 51,259 ids), AdamW, one optimizer step per batch, random
weights (FLOPs identical). On CUDA also the bf16 MFU of our step for a BERT-large shape.
"""

import torch
from transformers import BertConfig, BertForMaskedLM

from benchmarks.common import interleaved, row
from model.config import VideoBertConfig
from model.modeling import VideoBertForPreTraining

PAPER_VISUAL = 12**4
SMALL = {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4}
LARGE = {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16}
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12}  # dense


def make_batch(config: VideoBertConfig, batch: int, length: int, seed: int = 0) -> dict:
    """Half text, `[>]`, half video, 15% of positions labelled (as the data builder makes)."""
    g = torch.Generator().manual_seed(seed)
    half = (length - 3) // 2
    text = torch.randint(1000, config.text_vocab_size, (batch, half), generator=g)
    video = config.visual_id(torch.randint(0, config.num_visual_tokens, (batch, half), generator=g))
    col = lambda v: torch.full((batch, 1), v)  # noqa: E731
    ids = torch.cat([col(101), text, col(config.video_sep_id), video, col(102)], dim=1)
    types = torch.cat([torch.zeros(batch, half + 2), torch.ones(batch, half + 1)], 1).long()
    chosen = torch.rand(ids.shape, generator=g) < 0.15
    chosen[:, [0, half + 1, -1]] = False
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    return {
        "input_ids": torch.where(chosen, torch.full_like(ids, 103), ids),
        "token_type_ids": types,
        "attention_mask": torch.ones_like(ids),
        "labels": labels,
    }


def models(shape: dict, dropout: float = 0.1) -> tuple[VideoBertForPreTraining, BertForMaskedLM]:
    sizes = {**shape, "intermediate_size": 4 * shape["hidden_size"]}
    sizes |= {"hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout}
    ours = VideoBertForPreTraining(VideoBertConfig(num_visual_tokens=PAPER_VISUAL, **sizes))
    plain_config = BertConfig(vocab_size=ours.config.vocab_size, **sizes)
    plain_config._attn_implementation = "eager"
    return ours, BertForMaskedLM(plain_config)


def stepper(model, batch: dict, steps: int, alignment: bool, autocast: str | None = None):
    """A function running `steps` optimizer steps; returns the tokens it processed."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    extra = {"alignment_labels": torch.zeros(len(batch["input_ids"]), dtype=torch.long)}
    batch = {**batch, **(extra if alignment else {})}
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}

    def run() -> int:
        for _ in range(steps):
            with torch.autocast(device.type, torch.bfloat16, enabled=autocast is not None):
                loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return steps * batch["input_ids"].numel()

    model.train()
    return run


def step_flops(config, batch: dict) -> float:
    """Training FLOPs of our step: 6 × (encoder + head-transform matmuls) per token, attention
    (12 L T H per token), and the vocabulary projection only on the labelled positions."""
    b, t = batch["input_ids"].shape
    h, n_layers, inter = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    per_token = 6 * n_layers * (4 * h * h + 2 * h * inter) + 12 * n_layers * t * h
    masked = int((batch["labels"] != -100).sum())
    return b * t * per_token + masked * 6 * (h * h + h * config.vocab_size)


def cpu_ratio(quick: bool) -> list[str]:
    batch_size, length, steps = (4, 64, 2) if quick else (8, 128, 3)
    ours, plain = models(SMALL)
    batch = make_batch(ours.config, batch_size, length)
    rates = interleaved(
        {
            "ours": stepper(ours, batch, steps, alignment=True),
            "plain": stepper(plain, batch, steps, alignment=False),
        },
        repeats=2 if quick else 3,
    )
    shape = f"H{SMALL['hidden_size']} L{SMALL['num_hidden_layers']} B{batch_size} T{length}"
    return [
        f"pretrain: training tokens/s on CPU, {torch.get_num_threads()} threads, {shape}, "
        f"vocab {ours.config.vocab_size}",
        row("plain eager BertForMaskedLM (full-vocab logits)", rates["plain"], "tok/s"),
        row("VideoBERT step (SDPA, masked-only head, frozen emb)", rates["ours"], "tok/s"),
        row("ours ÷ plain", rates["ours"] / rates["plain"], "ratio", "(goal ≥ 3)"),
    ]


def gpu_mfu(quick: bool) -> list[str]:
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
    ours, _ = models(LARGE)
    ours.cuda()
    batch = make_batch(ours.config, 16 if quick else 64, 128)
    compiled = torch.compile(ours)
    run = stepper(compiled, batch, 3 if quick else 10, alignment=True, autocast="bf16")
    run()  # compile + warm up
    rate = interleaved({"ours": run}, repeats=2)["ours"]
    flops = step_flops(ours.config, batch) / batch["input_ids"].numel() * rate
    lines = [f"pretrain: BERT-large shape, bf16 + torch.compile on {name}"]
    lines.append(row("VideoBERT step", rate, "tok/s"))
    if peak is None:
        lines.append(row("achieved TFLOP/s (peak unknown for this GPU)", flops / 1e12, "TFLOP/s"))
    else:
        lines.append(row("MFU (bf16 dense peak)", 100 * flops / peak, "%", "(goal ≥ 40)"))
    return lines


def main(quick: bool = False) -> list[str]:
    lines = cpu_ratio(quick)
    if torch.cuda.is_available():
        lines += gpu_mfu(quick)
    return lines
