"""The one thing pyproject.toml cannot say: ship the top-level ``kernels/`` folder as ``cnn_gpu.kernels``.

``[tool.setuptools.packages.find]`` only finds folders under ``cnn_gpu/``; a package mapped from
elsewhere has to be added to the found list by hand. Everything else, package data included, is in
pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["cnn_gpu", "cnn_gpu.*"]) + ["cnn_gpu.kernels"],
    package_dir={"cnn_gpu.kernels": "kernels"},
)
