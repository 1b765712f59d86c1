from setuptools import setup

# Dataflow ships the package to workers with --setup_file=./setup.py; metadata is in pyproject.toml.
setup()
