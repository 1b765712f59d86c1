"""The evaluation metrics as plain text: zero-shot in the layout of the paper's Table 1 (with the
paper's numbers beside ours), then forecasting and text-to-video."""

# Sun et al. 2019, Table 1 (YouCook II validation, zero-shot; S3D is supervised): verb top-1,
# verb top-5, object top-1, object top-5, in %.
PAPER_TABLE1 = {
    "s3d_supervised": (16.1, 46.9, 13.2, 30.9),
    "bert_prior": (0.0, 0.0, 0.0, 0.0),
    "language_prior": (0.4, 6.9, 7.7, 15.3),
    "cross_modal": (3.2, 43.3, 13.1, 33.7),
}
ROWS = (
    ("s3d_supervised", "S3D (supervised)"),
    ("bert_prior", "BERT language prior"),
    ("language_prior", "VideoBERT language prior"),
    ("cross_modal", "VideoBERT cross-modal"),
    ("most_frequent_1", "most frequent label"),
    ("most_frequent_5", "most frequent five labels"),
)
COLUMNS = (("verb", "top1"), ("verb", "top5"), ("noun", "top1"), ("noun", "top5"))
NA = "·"


def _cell(value: float | None) -> str:
    return f"{100 * value:7.1f}" if value is not None else f"{NA:>7}"


def _ours(r: dict, metric: str, row: str, what: str, k: str) -> float | None:
    if row.startswith("most_frequent"):
        wanted = "top1" if row.endswith("_1") else "top5"
        return r[what]["most_frequent"][k] if k == wanted else None
    return r[what].get(metric, {}).get(row, {}).get(k)


def zero_shot_table(dataset: str, r: dict, bert_name: str | None = None) -> list[str]:
    head = "".join(f"{w}@{k[-1]}".rjust(7) for w, k in COLUMNS)
    lines = [
        f"zero-shot verb/noun, {dataset}: {r['verb']['n']} clips with a verb label, "
        f"{r['noun']['n']} with a noun label; open vocabulary: {r['verb']['candidates']:,} verb / "
        f"{r['noun']['candidates']:,} noun lemmas",
        f"{'top-k accuracy (%)':<38}{head}   | paper (YouCook II){head}",
    ]
    for key, name in ROWS:
        label = f"{name} ({bert_name})" if key == "bert_prior" and bert_name else name
        ours = [_ours(r, "open_vocabulary", key, w, k) for w, k in COLUMNS]
        paper = PAPER_TABLE1.get(key)
        if key == "bert_prior" and "bert_prior" not in r["verb"]["open_vocabulary"]:
            label += " (not run)"
        theirs = "".join(f"{v:7.1f}" for v in paper) if paper else f"{NA:>7}" * 4
        lines.append(f"{label:<38}{''.join(map(_cell, ours))}   | {'':<18}{theirs}")
    vocab = f"{r['verb']['vocabulary']} verbs / {r['noun']['vocabulary']} nouns"
    lines.append(f"label-restricted ranking (among the {vocab}; not the paper's metric):")
    for key, name in ROWS[1:4]:
        if key in r["verb"]["label_restricted"]:
            ours = [_ours(r, "label_restricted", key, w, k) for w, k in COLUMNS]
            lines.append(f"  {name:<36}{''.join(map(_cell, ours))}")
    for what in ("verb", "noun"):
        words = r[what]["open_vocabulary"]["language_prior"]["top5_words"]
        lines.append(f"  VideoBERT prior's top-5 {what}s: {', '.join(words)}")
    return lines


def table(metrics: dict) -> str:
    lines = []
    for warning in metrics.get("leaks", {}).get("warnings", []):
        lines.append(f"WARNING: {warning}")
    for dataset, r in metrics.get("zero_shot", {}).items():
        lines += zero_shot_table(dataset, r, metrics.get("bert_prior")) + [""]
    rows = []
    for task, sub in (
        ("forecasting", "next"),
        ("forecasting", "transition"),
        ("text_to_video", None),
    ):
        r = metrics.get(task)
        r = r.get(sub) if r and sub else r
        for method in ("unigram", "repeat_last", "bigram", "model") if r else ():
            if method in r:
                a, name = r[method], f"{task} ({sub})" if sub else task
                rows.append(
                    f"{name:<28}{method:>12}{100 * a['top1']:>8.1f}{100 * a['top5']:>8.1f}"
                    f"{r['n_targets']:>7}"
                )
    if rows:
        lines += [f"{'visual tokens (%)':<28}{'method':>12}{'top-1':>8}{'top-5':>8}{'n':>7}", *rows]
    return "\n".join(lines)
