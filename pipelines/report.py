"""The self-contained HTML report: OUT/report/index.html and OUT/report/videos/<id>.html.

Everything a page shows is inside it: plots are matplotlib SVGs and thumbnails JPEGs, both as
data: URIs, so the report opens from disk (or a bucket download) with no network and no server.
Built from `pipelines.inspect.collect`'s summary plus the atlas and timelines of
`pipelines.atlas`, so its cost is the summary's plus `max_videos` feature files.
"""

import base64
import io
import logging
import random
import time

import jinja2
import matplotlib
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.atlas import build_atlas, video_ids, video_timeline
from pipelines.caption_report import captioning
from pipelines.stats import UNREADABLE, exists, join, token_path
from schemas import VIDEOS, layout
from schemas.ids import validate_video_id
from stages.store.files import atomic_write, read_parts

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

log = logging.getLogger(__name__)
COLORS = {"ok": "#2e7d32", "truncated_media": "#9ccc65"}
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("pipelines", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
)


def data_uri(blob: bytes | None, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(blob).decode()}" if blob else ""


def _svg(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    return data_uri(buf.getvalue(), "image/svg+xml")


def _figure(title: str, size=(6.4, 3.2)):
    fig, ax = plt.subplots(figsize=size)
    ax.set_title(title, fontsize=11)
    return fig, ax


def status_plot(stages: list[dict]) -> str | None:
    """Stacked horizontal bars: videos per status, one bar per stage with a status table."""
    rows = [(s["stage"], s["status"]["counts"]) for s in stages if s["status"]]
    if not rows:
        return None
    fig, ax = _figure("videos per status, per stage", (6.4, 0.45 * len(rows) + 1.2))
    statuses = sorted({k for _, c in rows for k in c}, key=lambda k: (k != "ok", k))
    cmap, left = plt.get_cmap("tab10"), np.zeros(len(rows))
    for i, status in enumerate(statuses):
        n = np.array([c.get(status, 0) for _, c in rows])
        ax.barh([r for r, _ in rows], n, left=left, label=status,
                color=COLORS.get(status, cmap(i % 10)))  # fmt: skip
        left += n
    ax.invert_yaxis()
    ax.set_xlabel("videos")
    ax.legend(fontsize=8, loc="lower right")
    return _svg(fig)


def occupancy_plot(counts: np.ndarray, vocab: int | None) -> str | None:
    """Uses per visual token, tokens by frequency (log scale): how evenly the leaves are used."""
    used = np.sort(counts[counts > 0])[::-1]
    if not len(used):
        return None
    of = f" ({len(used)} of {vocab} used)" if vocab else f" ({len(used)} used)"
    fig, ax = _figure("cluster occupancy: uses per visual token" + of)
    rank = np.unique(np.linspace(0, len(used) - 1, min(len(used), 2000)).round().astype(int))
    ax.fill_between(rank + 1, used[rank], step="post", color="#1565c0")  # one path, not 20k bars
    ax.set_yscale("log")
    ax.set_xlabel("visual token, by frequency rank")
    ax.set_xlim(1, len(used))
    ax.set_ylabel("uses in segments")
    return _svg(fig)


def bincount_plot(title: str, xlabel: str, hist: list[int], step: float | None = None):
    """A bar per integer value (step None) or per bin of width `step` starting at 0."""
    if not hist or not sum(hist):
        return None
    hist = hist[: int(np.flatnonzero(hist)[-1]) + 1]  # no empty tail
    fig, ax = _figure(title)
    x = np.arange(len(hist)) * (step or 1)
    ax.bar(x, hist, width=(step or 1) * 0.9, align="edge" if step else "center", color="#6a1b9a")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    return _svg(fig)


def duration_plot(videos: dict) -> str | None:
    d = videos.get("duration_s") or {}
    if not d.get("hist"):
        return None
    fig, ax = _figure("video durations (declared)")
    edges = np.asarray(d["edges"])
    ax.bar(edges[:-1], d["hist"], width=np.diff(edges) * 0.9, align="edge", color="#ef6c00")
    ax.set_xlabel("seconds")
    ax.set_ylabel("videos")
    return _svg(fig)


def plots(summary: dict, counts: np.ndarray) -> list[dict]:
    c, tree = summary["corpus"], summary["tree"]
    made = [("Status per stage", status_plot(summary["stages"]))]
    if "problem" not in c:
        made += [
            ("Cluster occupancy", occupancy_plot(counts, tree["vocab"] if tree else None)),
            (
                "Segment length (s)",
                bincount_plot(
                    "segment duration",
                    "seconds",
                    c["segment_seconds"]["hist"],
                    c["segment_seconds"]["bin_s"],
                ),
            ),  # fmt: skip
            (
                "Visual tokens per segment",
                bincount_plot(
                    "visual tokens per segment",
                    "tokens",
                    c["visual_tokens_per_segment"].get("hist", []),
                ),
            ),  # fmt: skip
            (
                "Sentence length",
                bincount_plot("sentence length", "words", c["sentence_words"].get("hist", [])),
            ),  # fmt: skip
        ]
    made.append(("Video durations", duration_plot(summary["videos"])))
    return [{"title": t, "src": src} for t, src in made if src]


def _with_images(items: list[dict]) -> list[dict]:
    for item in items:
        item["src"] = data_uri(item.pop("jpeg", None), "image/jpeg")
    return items


def video_records(out: str, ids: list[str]) -> dict[str, dict]:
    """title / duration / split of the given videos from OUT/discover/videos/, if any."""
    try:
        t = read_parts(
            layout.videos_glob(out), VIDEOS, ["video_id", "title", "duration_s", "split"]
        )
    except UNREADABLE:
        return {}
    t = t.filter(pc.is_in(t["video_id"], value_set=pa.array(ids, pa.string())))
    return {r["video_id"]: r for r in t.to_pylist()}


def write_page(path: str, template: str, **context) -> None:
    html = TEMPLATES.get_template(template).render(**context).encode()
    atomic_write(path, lambda f: f.write(html))


def write_report(summary: dict, counts: np.ndarray, args) -> str:
    """Write the report under `args.report_dir` (default OUT/report); returns index.html's path."""
    t0 = time.perf_counter()
    out, tree = args.out, summary["tree"]
    root = args.report_dir or join(out, "report")
    atlas = build_atlas(out, counts, tree, args.atlas_tokens, args.atlas_clips,
                        args.max_videos, args.seed)  # fmt: skip
    for token in atlas.tokens:
        token["path"] = token_path(token["token"], tree["k"], tree["depth"]) if tree else ""
        _with_images(token["clips"])
    ids = list(dict.fromkeys(e["video_id"] for e in summary["corpus"].get("examples", [])))
    if not ids:  # no corpus to take examples from: a seeded sample of the videos with tokens
        found = video_ids(out, "tokens") if exists(join(out, "tokens")) else []
        ids = sorted(random.Random(args.seed).sample(found, min(args.examples, len(found))))
    titles = video_records(out, ids)
    pages = []
    for vid in ids:
        page = video_timeline(out, validate_video_id(vid))
        page["video"] = titles.get(vid, {})
        _with_images(page["clips"])
        write_page(join(root, "videos", f"{vid}.html"), "video.html.j2", page=page)
        pages.append(vid)
    captions = captioning(out)
    _with_images(captions["examples"] if captions else [])
    write_page(
        join(root, "index.html"),
        "index.html.j2",
        s=summary,
        plots=plots(summary, counts),
        atlas=atlas,
        pages=pages,
        captioning=captions,
        seconds=round(time.perf_counter() - t0, 1),
    )
    log.info("report: %d atlas tokens, %d video pages in %.1f s", len(atlas.tokens), len(pages),
             time.perf_counter() - t0)  # fmt: skip
    return join(root, "index.html")
