"""`make bench`: every benchmark, ratios measured side by side in one run.

python -m benchmarks                 # all
python -m benchmarks --only frames   # one (frames, features, kmeans, punctuation, pipeline, memory,
                                     #      download, inspect, pretrain, learnability,
                                     #      caption, clipbert, scale)
python -m benchmarks --quick         # smaller inputs
"""

import argparse
import importlib
import logging
import time

from schemas.process import run_cli

BENCHES = (
    "frames", "features", "kmeans", "kmeans_quality", "punctuation", "pipeline", "memory",
    "download", "inspect", "pretrain", "learnability", "caption", "clipbert", "scale",
)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=BENCHES, action="append")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    for name in args.only or BENCHES:
        start = time.monotonic()
        module = importlib.import_module(f"benchmarks.bench_{name}")
        if name == "kmeans":  # a CLI of its own that prints its table
            module.main(["--n", "20000", "--videos", "100"] if args.quick else [])
        elif name == "kmeans_quality":
            quick = ["--k", "4", "--depth", "2", "--dim", "16", "--seeds", "1"]
            print("\n".join(module.main(quick if args.quick else [])), flush=True)
        else:
            print("\n".join(module.main(quick=args.quick)), flush=True)
        print(f"  ({time.monotonic() - start:.0f} s)\n", flush=True)


if __name__ == "__main__":
    run_cli(main)
