"""The host side of one training step of the seed model: microseconds per step with every kernel
launch stubbed out.

On a GPU the seed model's step at batch 32 is about twenty launches of kernels that each take a few
microseconds, so the Python between them (layers, backend, wrappers, argument checks, allocations)
can take longer than the GPU does, and then it, not the kernels, sets the pace of training. This
times that Python alone: the launches reach a no-op instead of a compiled module, the variant of
each convolution and product is fixed (an autotuner would time stubs), and a step is what
Model.fit does per batch: the loss, the accuracy count, the gradients and the optimizer's update.
The stubs compute nothing, so the numbers the step produces are garbage, unused. On the emulate
backend with NumPy arrays (any machine), or on the cuda backend with CuPy arrays (a GPU machine,
where allocating an array costs more). The fastest of several rounds is reported.

With ``--profile``, the steps then run once more under cProfile, and the functions that took the
most time are printed (gemm_call_overhead's print_profile).

    python -m benchmarks.train_step_overhead [--backend emulate|cuda] [--steps 300] [--rounds 5] [--profile]
                                             [--batch-norm]   # seed_model's variant with BatchNormalization
"""

from __future__ import annotations

import argparse
import os
import sys
from unittest import mock

import numpy as np

from benchmarks.gemm_call_overhead import StubModule, microseconds_per_call, print_profile
from cnn_gpu import backend as backend_module
from cnn_gpu import seed_model
from cnn_gpu.cuda import kernel as kernel_module
from cnn_gpu.ops import conv2d, gemm
from cnn_gpu.utils import set_random_seed

BATCH = 32  # cnn-gpu train's
# The variants fixed for the step: the emulator's defaults, which the cuda backend's autotuner could
# not choose among over stubs.
FIXED_VARIANTS = {conv2d.VARIANT_ENV: conv2d.EMULATE_DEFAULT, gemm.VARIANT_ENV: gemm.EMULATE_DEFAULT}


def training_step(model, backend, x, y):
    """What Model.fit does for one batch (training.train_step), on backend arrays x and y, in its order;
    the stubs' garbage loss is not checked."""
    terms, output = model.loss_terms(x, y)
    count = backend.count_correct(output, y, "categorical")
    gradients = model.compute_gradients()
    model.total_loss(terms)
    backend.to_numpy(count)
    model.optimizer.apply(gradients, model.trainable_weights)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("emulate", "cuda"), default="emulate")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="then profile the steps (cProfile)")
    parser.add_argument("--batch-norm", action="store_true",
                        help="seed_model's variant with BatchNormalization after the convolution")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    previous = backend_module._current
    with mock.patch.dict(os.environ, FIXED_VARIANTS), \
            mock.patch.object(kernel_module, "module_for", lambda kernel, backend: StubModule()):
        try:
            backend = backend_module.set_backend(args.backend)
            set_random_seed(0)
            model = seed_model.build(batch_norm=args.batch_norm)
            x = backend.asarray(rng.uniform(0, 1, (BATCH, 28, 28, 1)).astype(np.float32))
            y = backend.asarray(np.eye(seed_model.CLASSES, dtype=np.float32)[rng.integers(0, 10, BATCH)])
            step = lambda: training_step(model, backend, x, y)  # noqa: E731
            us = microseconds_per_call(step, args.steps, args.rounds)
            name = "seed model with batch norm" if args.batch_norm else "seed model"
            print(f"{args.backend:8s} {name}, batch {BATCH}: {us:8.1f} us of host time per training step", flush=True)
            if args.profile:
                print_profile(step, args.steps, rows=25, per="training step")
        finally:
            backend_module._current = previous
    return 0


if __name__ == "__main__":
    sys.exit(main())
