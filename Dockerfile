# Dataflow worker image (--sdk_container_image) for the corpus DAG: Beam's Python 3.11 SDK
# image (its boot entrypoint, /opt/apache/beam/boot), the pinned stack from constraints.txt
# with CUDA torch (PyPI's torch wheel for Linux x86_64 is the CUDA 13 build; the pinned
# nvidia-* wheels carry the CUDA runtime; Dataflow installs the driver on GPU workers through
# the accelerator hint's `install-nvidia-driver`), the deno JS runtime yt-dlp needs (the `deno`
# wheel, a pinned dependency), and this package.
#
#   IMAGE=us-central1-docker.pkg.dev/PROJECT/videobert/worker:$(git rev-parse --short HEAD)
#   docker build -t $IMAGE .                      # add --build-arg BAKE_WEIGHTS=1 to bake in
#   docker push $IMAGE                            # S3D Kinetics-400 + the punctuation model
#   python -m pipelines.corpus --runner=DataflowRunner --sdk_container_image=$IMAGE \
#     --experiments=no_use_multiple_sdk_containers ...   (README: "Dataflow")
#
# The Beam version of the base image must equal the pinned apache-beam (tests/test_dockerfile.py).
FROM apache/beam_python3.11_sdk:2.77.0

WORKDIR /opt/videobert
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TORCH_HOME=/opt/videobert/cache/torch \
    HF_HOME=/opt/videobert/cache/huggingface

# Dependencies first (a layer that changes only with the pins), then the package.
COPY constraints.txt pyproject.toml setup.py README.md ./
COPY schemas ./schemas
COPY stages ./stages
COPY pipelines ./pipelines
COPY model ./model
RUN pip install -c constraints.txt . \
    && python -c "import apache_beam, av, deno, faiss, torch, yt_dlp, stages, pipelines; \
assert apache_beam.__version__ == '2.77.0', apache_beam.__version__; \
assert torch.version.cuda, 'torch is not a CUDA build'"

# Optional: weights inside the image, so workers need no internet for them.
ARG BAKE_WEIGHTS=0
ARG PUNCTUATION_MODEL=oliverguhr/fullstop-punctuation-multilang-large
RUN if [ "$BAKE_WEIGHTS" = "1" ]; then \
      python -c "from torchvision.models.video import S3D_Weights, s3d; s3d(weights=S3D_Weights.KINETICS400_V1)" \
      && python -c "from huggingface_hub import snapshot_download; snapshot_download('$PUNCTUATION_MODEL')"; \
    fi

ENTRYPOINT ["/opt/apache/beam/boot"]
