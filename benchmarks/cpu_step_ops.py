"""Where a CPU training step's time goes: the seed model's ops on the numpy backend, one by one.

Seed model: Conv2D(32, 3x3, relu) on 28x28x1 -> MaxPool 2x2 -> Flatten -> Dense(64, relu) ->
Dense(10, softmax), Adam, batch 32, float32. Each op is timed over rounds of steps and the fastest
round is reported (the machine may be shared, and contention only ever adds time).

    python benchmarks/cpu_step_ops.py [--batch 32] [--rounds 10] [--steps 30]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

from cnn_gpu.backend.numpy_backend import NumpyBackend


class SeedModelStep:
    """The seed model's forward, backward and Adam update as direct backend calls, each one timed."""

    def __init__(self, be, batch, rng):
        f32 = np.float32
        self.be, self.batch = be, batch
        self.x = be.asarray(rng.random((batch, 28, 28, 1), dtype=f32))
        self.labels = be.asarray(rng.integers(0, 10, batch))
        shapes = [(3, 3, 1, 32), (32,), (13 * 13 * 32, 64), (64,), (64, 10), (10,)]
        self.params = [be.asarray(rng.standard_normal(s, dtype=f32) * 0.05) for s in shapes]
        self.m = [be.zeros(s, f32) for s in shapes]
        self.v = [be.zeros(s, f32) for s in shapes]
        self.times = defaultdict(float)
        self.step_count = 0

    def timed(self, name, op, *args):
        start = time.perf_counter()
        out = op(*args)
        self.times[name] += time.perf_counter() - start
        return out

    def __call__(self):
        be, t = self.be, self.timed
        w1, b1, w2, b2, w3, b3 = self.params
        y1 = t("conv2d forward", be.conv2d_forward, self.x, w1, b1, 1, "valid", 1)
        a1 = t("relu forward", be.activation_forward, "relu", y1)
        pooled, argmax = t("max_pool forward", be.max_pool2d_forward, a1, 2, None, "valid")
        flat = pooled.reshape(self.batch, -1)
        y2 = t("dense forward", be.dense_forward, flat, w2, b2)
        a2 = t("relu forward", be.activation_forward, "relu", y2)
        logits = t("dense forward", be.dense_forward, a2, w3, b3)
        _, dlogits = t("softmax cross-entropy", be.softmax_cross_entropy, logits, self.labels, True)
        da2, dw3, db3 = t("dense backward", be.dense_backward, a2, w3, dlogits)
        dy2 = t("relu backward", be.activation_backward, "relu", y2, a2, da2)
        dflat, dw2, db2 = t("dense backward", be.dense_backward, flat, w2, dy2)
        da1 = t("max_pool backward", be.max_pool2d_backward, dflat.reshape(pooled.shape), argmax, a1.shape, 2,
                None, "valid")
        dy1 = t("relu backward", be.activation_backward, "relu", y1, a1, da1)
        # The first layer needs no gradient to its input.
        _, dw1, db1 = t("conv2d backward filter", be.conv2d_backward, self.x, w1, dy1, 1, "valid", 1, False)
        self.step_count += 1
        for param, grad, m, v in zip(self.params, (dw1, db1, dw2, db2, dw3, db3), self.m, self.v):
            t("adam update", be.adam_update, param, grad, m, v, 1e-3, 0.9, 0.999, 1e-7, self.step_count)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=30, help="steps per round")
    args = parser.parse_args()
    step = SeedModelStep(NumpyBackend(), args.batch, np.random.default_rng(0))
    for _ in range(5):  # warm-up: first-touch allocations, BLAS thread start
        step()
    best_total, best_ops = float("inf"), {}
    for _ in range(args.rounds):
        step.times.clear()
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        total = (time.perf_counter() - start) / args.steps
        if total < best_total:
            best_total, best_ops = total, {name: t / args.steps for name, t in step.times.items()}
    print(f"seed model train step, batch {args.batch}, numpy backend: {best_total * 1e3:.2f} ms "
          f"(fastest of {args.rounds} rounds of {args.steps} steps)")
    for name, seconds in sorted(best_ops.items(), key=lambda item: -item[1]):
        print(f"  {name:24s} {seconds * 1e3:7.3f} ms")


if __name__ == "__main__":
    main()
