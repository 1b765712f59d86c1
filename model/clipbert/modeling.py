"""ClipBERT (Lei et al., CVPR 2021): a 2D CNN and a BERT trained end to end on sparse clips.

    frames (B, N, T, S, S, 3) uint8 ─► ResNet conv1-conv5 (B·N·T, C, S/32, S/32)
        ─► 1x1 conv to H, 2x2 max-pool (B·N·T, H, h, w) ─► mean over the T frames (B·N, H, h, w)
        ─► + row/col position embeddings, + token type 1, LayerNorm ─► visual grid (B, N, h·w, H)
    [CLS] text [SEP] + visual grid of one clip ─► BERT ─► pooled [CLS] ─► matching head (2)

A clip's score is the matching head's log-odds (aligned minus not aligned); an example's score
aggregates its clips' scores (`aggregate`: mean, or LogSumExp minus log N, the paper's best:
both ignore N for ranking). Training: each text against its own video and `negatives` other
videos of the batch (in-batch negatives), cross-entropy over those candidates. The text is never
encoded alone: every (text, clip) pair runs through BERT (a cross-encoder, as in the paper), so
`encode_video` runs once per clip and `clip_scores` once per pair.

Differs from the paper: no image-text pretraining on COCO/Visual Genome (the text side starts
from a BERT checkpoint, the trunk from ImageNet or random init); frames are centre-cropped
squares (the paper keeps the aspect ratio, longer side 448, with padding); the visual tokens
also receive BERT's position-0 embedding (a constant) besides their 2D row/column embeddings.
"""

import torch
import torch.nn.functional as F
import torchvision
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import AutoConfig, BertConfig, BertModel
from transformers.models.bert.modeling_bert import BertPreTrainedModel

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TRUNK_CHANNELS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048}
AGGREGATES = ("mean", "lse")


@strict
class ClipBertConfig(BertConfig):
    model_type = "clipbert"

    trunk: str = "resnet50"
    """torchvision ResNet whose conv1-conv5 make the visual backbone (the paper: resnet50)."""
    max_grid: int = 16
    """Rows (and columns) of the visual grid that have a position embedding."""
    aggregate: str = "lse"
    """How clip scores make an example's score: mean | lse (LogSumExp, the paper's best)."""
    cls_token_id: int = 101
    """[CLS] / [SEP] of the text vocabulary (bert-base-uncased's by default)."""
    sep_token_id: int = 102

    def __post_init__(self, **kwargs):
        if self.trunk not in TRUNK_CHANNELS:
            raise ValueError(f"trunk {self.trunk!r}: one of {sorted(TRUNK_CHANNELS)}")
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate {self.aggregate!r}: one of {AGGREGATES}")
        super().__post_init__(**kwargs)


def resnet_trunk(name: str) -> nn.Sequential:
    """conv1 ... conv5 (layer4) of a randomly initialised torchvision ResNet: (B, 3, S, S) →
    (B, C, S/32, S/32)."""
    net = getattr(torchvision.models, name)(weights=None)
    return nn.Sequential(*list(net.children())[:-2])  # drop avgpool and fc


def aggregate(scores: torch.Tensor, how: str) -> torch.Tensor:
    """(..., N) clip scores → (...,): mean, or log-mean-exp (LogSumExp - log N)."""
    if how == "mean":
        return scores.mean(-1)
    return torch.logsumexp(scores, -1) - torch.log(torch.tensor(float(scores.shape[-1])))


def negative_pairs(batch: int, negatives: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(text index, video index), each (batch, 1 + k): column 0 the text's own video, then the
    k = min(negatives, batch - 1) next videos of the batch (cyclically)."""
    k = min(negatives, batch - 1)
    texts = torch.arange(batch)[:, None].expand(batch, 1 + k)
    return texts, (texts + torch.arange(1 + k)) % batch


class ClipBertForRetrieval(BertPreTrainedModel):
    config_class = ClipBertConfig
    config: ClipBertConfig

    def __init__(self, config: ClipBertConfig):
        super().__init__(config)
        h = config.hidden_size
        self.trunk = resnet_trunk(config.trunk)
        self.proj = nn.Conv2d(TRUNK_CHANNELS[config.trunk], h, kernel_size=1)
        self.pool = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.row_embeddings = nn.Embedding(config.max_grid, h)
        self.col_embeddings = nn.Embedding(config.max_grid, h)
        self.visual_norm = nn.LayerNorm(h, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.bert = BertModel(config)
        self.match = nn.Linear(h, 2)  # class 1 = text and clip match (BERT's NSP head layout)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, nn.Conv2d | nn.BatchNorm2d):
            return  # the trunk keeps torchvision's (kaiming) init; 1x1 proj PyTorch's default
        if isinstance(module, ClipBertForRetrieval):
            module.mean.copy_(torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            module.std.copy_(torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        super()._init_weights(module)

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, N, T, S, S, 3) uint8 → visual grids (B, N, G, H), G = rows x cols."""
        b, n, t = frames.shape[:3]
        x = frames.flatten(0, 2).permute(0, 3, 1, 2).float().div(255.0)  # (BNT, 3, S, S)
        x = ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        x = self.pool(self.proj(self.trunk(x)))  # (BNT, H, h, w)
        x = x.unflatten(0, (b * n, t)).mean(1)  # (BN, H, h, w)
        rows, cols = x.shape[-2:]
        if max(rows, cols) > self.config.max_grid:
            raise ValueError(f"visual grid {rows}x{cols} > max_grid {self.config.max_grid}")
        x = x.flatten(2).transpose(1, 2)  # (BN, G, H)
        r, c = torch.arange(rows, device=x.device), torch.arange(cols, device=x.device)
        pos = (self.row_embeddings(r)[:, None] + self.col_embeddings(c)[None]).flatten(0, 1)
        x = self.dropout(self.visual_norm(x + pos))
        return x.unflatten(0, (b, n))

    def clip_scores(
        self, text_ids: torch.Tensor, text_mask: torch.Tensor, visual: torch.Tensor
    ) -> torch.Tensor:
        """Matching log-odds of P (text, video) pairs: text (P, L), visual (P, N, G, H) → (P, N),
        one per clip; each clip is read by BERT as [CLS] text [SEP] grid."""
        p, n, g, _ = visual.shape
        words = self.bert.embeddings.word_embeddings(text_ids)  # (P, L, H)
        x = torch.cat([words[:, None].expand(-1, n, -1, -1), visual.to(words.dtype)], 2)
        x = x.flatten(0, 1)  # (P·N, L + G, H)
        length = text_ids.shape[1]
        mask = torch.cat([text_mask, text_mask.new_ones(p, g)], 1).repeat_interleave(n, 0)
        types = torch.ones_like(mask)
        types[:, :length] = 0
        positions = torch.arange(length + g, device=x.device)
        positions[length:] = 0  # the grid's positions are its row/col embeddings
        out = self.bert(
            inputs_embeds=x, attention_mask=mask, token_type_ids=types, position_ids=positions[None]
        )
        logits = self.match(out.pooler_output).float()  # (P·N, 2)
        return (logits[:, 1] - logits[:, 0]).view(p, n)

    def forward(
        self,
        frames: torch.Tensor,
        text_ids: torch.Tensor,
        text_mask: torch.Tensor,
        negatives: int = 7,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """In-batch-negative training step: (loss, scores (B, 1 + k)); column 0 = own video."""
        visual = self.encode_video(frames)  # (B, N, G, H)
        texts, videos = negative_pairs(len(frames), negatives)
        texts, videos = texts.to(frames.device), videos.to(frames.device)
        clip = self.clip_scores(
            text_ids[texts.flatten()], text_mask[texts.flatten()], visual[videos.flatten()]
        )  # (B·(1+k), N)
        scores = aggregate(clip, self.config.aggregate).view(texts.shape)
        target = torch.zeros(len(scores), dtype=torch.long, device=scores.device)
        return F.cross_entropy(scores, target), scores


AutoConfig.register("clipbert", ClipBertConfig, exist_ok=True)
