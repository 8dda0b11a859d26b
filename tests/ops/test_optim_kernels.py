"""The optimizer kernels of kernels/optim.cu against the reference updates of cnn_gpu.ops.optim.

Several steps in a row, each kernel on float32 and float64 state, against the reference run in
float64 from the same start: the states (parameter, moments, velocity) must stay together step
after step. States start random, not zero: a state of zeros hides a wrong formula.
"""

import numpy as np
import pytest

from cnn_gpu.backend.kernel_backend import KernelBackend
from cnn_gpu.backend.numpy_backend import NumpyBackend
from cnn_gpu.cuda.errors import KernelArgumentError
from cnn_gpu.cuda.kernel import backend_xp
from cnn_gpu.ops import optim
from helpers import assert_close, on_backend, random_array, to_host

SHAPES = [(1,), (7,), (3, 5, 4), (1000,)]
DTYPES = [np.float32, np.float64]
STEPS = 3
SIGNED, SQUARES = (-1.0, 1.0), (0.01, 1.0)  # the ranges a state starts in: a mean of squares is >= 0
# Weight decay's fraction per step (weight_decay * lr): none, and one large enough to move w visibly.
DECAYS = [0.0, 0.05]


def run_both(rng, kernel_backend, shape, dtype, state_ranges, kernel_step, reference_step, redraw_ambiguous=None):
    """``STEPS`` updates, ``step(w, g, *states, step)``, by kernel on the backend's arrays and by the
    reference in float64, each step with a new gradient; then every array of the two compared.
    ``redraw_ambiguous(rng, grad, reference)`` may redraw, in place, gradient elements on which rounding
    could decide a discrete choice of the update (Lion's sign)."""
    arrays = [random_array(rng, shape, dtype)] + [random_array(rng, shape, dtype, *r) for r in state_ranges]
    ours = [on_backend(a.copy(), kernel_backend) for a in arrays]
    reference = [a.astype(np.float64) for a in arrays]
    for step in range(1, STEPS + 1):
        grad = random_array(rng, shape, dtype)
        if redraw_ambiguous is not None:
            redraw_ambiguous(rng, grad, reference)
        kernel_step(ours[0], on_backend(grad, kernel_backend), *ours[1:], step)
        reference_step(reference[0], grad.astype(np.float64), *reference[1:], step)
    # Every array here is of order 1 (inputs in [-1, 1], a learning rate of 0.1 or less), and rounding is
    # relative to that: judged against |ref| + 1, so that a state that happens to end near zero (whose
    # own norm no float32 rounding could be relative to) does not fail a correct kernel.
    for i, (out, ref) in enumerate(zip(ours, reference)):
        assert to_host(out).dtype == dtype
        assert_close(out, ref, what=f"array {i} after {STEPS} steps", scale=np.abs(ref) + 1.0)


@pytest.mark.parametrize("decay", DECAYS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd(rng, kernel_backend, shape, dtype, momentum, nesterov, decay):
    def step_with(update, **backend):
        def step(w, g, *velocity_and_step):
            velocity = velocity_and_step[0] if momentum else None
            update(w, g, velocity, 0.1, momentum, nesterov, decay, **backend)
        return step

    run_both(rng, kernel_backend, shape, dtype, [SIGNED] if momentum else [],
             step_with(optim.sgd_update_kernel, backend=kernel_backend), step_with(optim.sgd_update))


@pytest.mark.parametrize("decay", DECAYS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_adam(rng, kernel_backend, shape, dtype, decay):
    run_both(rng, kernel_backend, shape, dtype, [SIGNED, SQUARES],
             lambda w, g, m, v, step: optim.adam_update_kernel(w, g, m, v, 0.01, 0.9, 0.999, 1e-7, step, decay,
                                                               backend=kernel_backend),
             lambda w, g, m, v, step: optim.adam_update(w, g, m, v, 0.01, 0.9, 0.999, 1e-7, step, decay))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_adam_amsgrad(rng, kernel_backend, shape, dtype):
    """v_max starts around v's range, so that some elements keep it and others take the new v."""
    run_both(rng, kernel_backend, shape, dtype, [SIGNED, SQUARES, SQUARES],
             lambda w, g, m, v, v_max, step: optim.adam_update_kernel(w, g, m, v, 0.01, step=step, v_max=v_max,
                                                                      backend=kernel_backend),
             lambda w, g, m, v, v_max, step: optim.adam_update(w, g, m, v, 0.01, step=step, v_max=v_max))


@pytest.mark.parametrize("decay", DECAYS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_rmsprop(rng, kernel_backend, shape, dtype, decay):
    run_both(rng, kernel_backend, shape, dtype, [SQUARES],
             lambda w, g, velocity, step: optim.rmsprop_update_kernel(w, g, velocity, 0.01, 0.9, 1e-7, decay,
                                                                    backend=kernel_backend),
             lambda w, g, velocity, step: optim.rmsprop_update(w, g, velocity, 0.01, 0.9, 1e-7, decay))


@pytest.mark.parametrize("decay", DECAYS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("centered, momentum", [(True, 0.0), (False, 0.9), (True, 0.9)])
def test_rmsprop_centered_or_with_momentum(rng, kernel_backend, shape, dtype, centered, momentum, decay):
    """The average gradient starts within [-0.1, 0.1], so that v - a^2 stays positive as in training
    (where v >= a^2 holds by construction)."""
    def step_with(update, **backend):
        def step(w, g, velocity, *slots_and_step):
            slots = list(slots_and_step[:-1])
            average = slots.pop(0) if centered else None
            update(w, g, velocity, 0.01, 0.9, 1e-7, decay, average, momentum, slots[0] if momentum else None,
                   **backend)
        return step

    ranges = [SQUARES] + [(-0.1, 0.1)] * centered + [SIGNED] * (momentum > 0)
    run_both(rng, kernel_backend, shape, dtype, ranges, step_with(optim.rmsprop_update_kernel, backend=kernel_backend),
             step_with(optim.rmsprop_update))


# The other optimizers: (kernel, reference, their hyperparameters after the states, the states' ranges,
# whether the update takes the step).
OTHERS = {
    "adagrad": (optim.adagrad_update_kernel, optim.adagrad_update, dict(lr=0.01), [SQUARES], False),
    "adamax": (optim.adamax_update_kernel, optim.adamax_update, dict(lr=0.01, beta_1=0.9, beta_2=0.999),
               [SIGNED, SQUARES], True),
    "nadam": (optim.nadam_update_kernel, optim.nadam_update, dict(lr=0.01, beta_1=0.9, beta_2=0.999),
              [SIGNED, SQUARES], True),
    "lion": (optim.lion_update_kernel, optim.lion_update, dict(lr=0.01, beta_1=0.9, beta_2=0.99), [SIGNED], False),
    "adadelta": (optim.adadelta_update_kernel, optim.adadelta_update, dict(lr=0.5, rho=0.95), [SQUARES, SQUARES],
                 False),
}

# Lion moves each weight by lr in the sign of d = beta_1 m + (1 - beta_1) g. Near d = 0, float32 rounding (of m,
# of beta_1, of d) puts the kernel's d up to 1.4e-8 from the float64 reference's (measured over 1e5 such d), and
# within that the two may take opposite signs (or one 0): w then differs by lr or 2 lr, about once in 100,000 runs.
# Gradients keep d 1e-6 or more from 0 instead: too narrow a window to hide a wrong beta or sign.
LION_MARGIN = 1e-6


def lion_direction_clear_of_zero(rng, grad, reference):
    """Redraw, in place, the elements of ``grad`` whose Lion direction (from the reference's momentum) lies
    within LION_MARGIN of 0."""
    beta_1, momentum = OTHERS["lion"][2]["beta_1"], reference[1]
    while (near := np.abs(beta_1 * momentum + (1 - beta_1) * grad) < LION_MARGIN).any():
        grad[near] = random_array(rng, int(near.sum()), grad.dtype)


@pytest.mark.parametrize("decay", DECAYS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", OTHERS)
def test_adagrad_adamax_nadam_lion_adadelta(rng, kernel_backend, name, shape, dtype, decay):
    kernel, reference, hyper, ranges, takes_step = OTHERS[name]

    def step_with(update, **backend):
        def step(w, g, *states_and_step):
            *states, step_number = states_and_step
            update(w, g, *states, **hyper, **({"step": step_number} if takes_step else {}), decay=decay, **backend)
        return step

    run_both(rng, kernel_backend, shape, dtype, ranges, step_with(kernel, backend=kernel_backend),
             step_with(reference), lion_direction_clear_of_zero if name == "lion" else None)


def test_lion_moves_each_element_by_the_rate_and_adamax_keeps_a_nan(kernel_backend):
    """Lion's step is lr times a sign (0 where momentum and gradient cancel); a NaN gradient makes
    Adamax's norm NaN, as the reference's maximum does, not the other operand."""
    on = lambda a: on_backend(np.array(a, np.float32), kernel_backend)  # noqa: E731
    w, m = on([1.0, 1.0, 1.0]), on([1.0, -1.0, 0.0])
    optim.lion_update_kernel(w, on([5.0, 0.0, 0.0]), m, 0.25, beta_1=0.9, beta_2=0.99, backend=kernel_backend)
    assert np.array_equal(to_host(w), [0.75, 1.25, 1.0])
    assert_close(to_host(m), np.array([0.99 + 0.05, -0.99, 0.0]))
    w, m, norm = on([1.0, 1.0]), on([0.0, 0.0]), on([2.0, 2.0])
    optim.adamax_update_kernel(w, on([np.nan, 1.0]), m, norm, 0.1, backend=kernel_backend)
    assert np.isnan(to_host(norm)[0]) and to_host(norm)[1] == np.float32(0.999 * 2)


def test_no_decay_keeps_an_infinite_weight_infinite(kernel_backend):
    """Decay 0 is skipped, not applied as w - w * 0 (inf - inf is NaN)."""
    w = on_backend(np.array([np.inf, 1.0], np.float32), kernel_backend)
    optim.sgd_update_kernel(w, on_backend(np.zeros(2, np.float32), kernel_backend), None, 0.1,
                            backend=kernel_backend)
    assert to_host(w)[0] == np.inf


def test_the_backend_updates_in_place_through_the_kernels(rng, kernel_backend):
    backend = KernelBackend(backend_xp(kernel_backend))
    w, g = random_array(rng, (4, 6), np.float32), random_array(rng, (4, 6), np.float32)
    expected, m, v = w.astype(np.float64), np.zeros((4, 6)), np.zeros((4, 6))
    optim.adam_update(expected, g.astype(np.float64), m, v, 0.01, 0.9, 0.999, 1e-7, 1)
    param = backend.asarray(w)
    moments = backend.zeros((4, 6), np.float32), backend.zeros((4, 6), np.float32)
    backend.adam_update(param, backend.asarray(g), *moments, 0.01, 0.9, 0.999, 1e-7, 1)
    assert_close(param, expected)
    assert_close(moments[0], m)
    assert_close(moments[1], v)


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop"])
def test_the_backend_hands_the_weight_decay_to_each_kernel(rng, kernel_backend, name):
    """The kernel backend's step with a decay is the numpy backend's, and not its step without one."""
    states = {"sgd": 1, "adam": 2, "rmsprop": 1}[name]
    w, g = random_array(rng, (5, 3), np.float32), random_array(rng, (5, 3), np.float32)

    def step(backend, decay):
        param = backend.asarray(w.copy())
        slots = [backend.zeros(w.shape, np.float32) for _ in range(states)]
        grad = backend.asarray(g)
        if name == "sgd":
            backend.sgd_update(param, grad, slots[0], 0.1, 0.9, True, decay)
        elif name == "adam":
            backend.adam_update(param, grad, *slots, 0.01, 0.9, 0.999, 1e-7, 1, decay)
        else:
            backend.rmsprop_update(param, grad, slots[0], 0.01, 0.9, 1e-7, decay)
        return to_host(param)

    ours = step(KernelBackend(backend_xp(kernel_backend)), 0.05)
    assert_close(ours, step(NumpyBackend(), 0.05), what=name)
    assert not np.allclose(ours, step(NumpyBackend(), 0.0)), "the decay reached the kernel"


def test_bad_states_are_refused_with_their_names(rng, kernel_backend):
    w = on_backend(random_array(rng, (6,), np.float32), kernel_backend)
    g = on_backend(random_array(rng, (6,), np.float32), kernel_backend)
    zeros = lambda shape, dtype=np.float32: on_backend(np.zeros(shape, dtype), kernel_backend)  # noqa: E731
    with pytest.raises(ValueError, match="grad must have the parameter's shape"):
        optim.adam_update_kernel(w, g[:5], zeros(6), zeros(6), 0.01, backend=kernel_backend)
    with pytest.raises(ValueError, match="v must have the parameter's dtype float32, got float64"):
        optim.adam_update_kernel(w, g, zeros(6), zeros(6, np.float64), 0.01, backend=kernel_backend)
    with pytest.raises(ValueError, match="step counts from 1"):
        optim.adam_update_kernel(w, g, zeros(6), zeros(6), 0.01, step=0, backend=kernel_backend)
    with pytest.raises(ValueError, match="float32 or float64 parameters"):
        optim.rmsprop_update_kernel(w.astype(np.float16), g.astype(np.float16), zeros(6, np.float16), 0.01,
                                    backend=kernel_backend)
    with pytest.raises(KernelArgumentError, match="'velocity' must be C-contiguous"):
        optim.sgd_update_kernel(w[:3], g[:3], zeros(6)[::2], 0.1, 0.9, backend=kernel_backend)


def test_the_backend_leaves_what_the_kernels_cannot_update_in_place_to_the_reference(rng, kernel_backend):
    backend = KernelBackend(backend_xp(kernel_backend))
    w = random_array(rng, (6, 4), np.float32)
    g = random_array(rng, (6, 4), np.float32)
    expected, velocity = w.astype(np.float64), np.zeros((6, 4))
    optim.sgd_update(expected, g.astype(np.float64), velocity, 0.1, 0.9, False)
    param = backend.asarray(np.asfortranarray(w))  # not C-contiguous: a kernel would update a copy
    backend.sgd_update(param, backend.asarray(g), backend.zeros((6, 4), np.float32), 0.1, 0.9, False)
    assert_close(param, expected)
    half = backend.asarray(w.astype(np.float16))  # a dtype the kernels do not take
    backend.sgd_update(half, backend.asarray(g.astype(np.float16)), None, 0.1, 0.0, False)
    assert_close(half, w - 0.1 * g.astype(np.float64), tol=1e-2)


ADAM_MANY = optim.adam_update_many_kernel
# The seed model's parameters, and more: an empty one, a tail of ones, one past ADAM_CHUNK (a block
# each chunk), more than MULTI_TENSORS in all (two launches).
MANY_SHAPES = [(3, 3, 1, 32), (32,), (0,), (64, 10), (10,), (1,), (1,), (2 * optim.ADAM_CHUNK + 5,), (7,), (3, 2)]


@pytest.mark.parametrize("decay", DECAYS)
@pytest.mark.parametrize("count", [1, 6, len(MANY_SHAPES)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_on_many_parameters_is_adam_on_each_bit_for_bit(rng, kernel_backend, dtype, count, decay):
    """adam_step_multi against adam_step parameter by parameter: the same arithmetic, the same bits."""
    shapes = MANY_SHAPES[:count]
    start = [[random_array(rng, shape, dtype, *r) for shape in shapes] for r in (SIGNED, SIGNED, SQUARES)]
    grads = [on_backend(random_array(rng, shape, dtype), kernel_backend) for shape in shapes]
    many = [[on_backend(a.copy(), kernel_backend) for a in arrays] for arrays in start]
    each = [[on_backend(a.copy(), kernel_backend) for a in arrays] for arrays in start]
    optim.adam_update_many_kernel(*many[:1], grads, *many[1:], 0.01, step=4, decay=decay, backend=kernel_backend)
    for w, g, m, v in zip(each[0], grads, each[1], each[2]):
        optim.adam_update_kernel(w, g, m, v, 0.01, step=4, decay=decay, backend=kernel_backend)
    for ours, theirs in zip(sum(many, []), sum(each, [])):
        assert np.array_equal(to_host(ours), to_host(theirs))
    assert not np.array_equal(to_host(many[0][0]), start[0][0]), "the parameters moved"


def test_adam_on_many_parameters_refuses_what_it_cannot_take(kernel_backend):
    on = lambda a: on_backend(a, kernel_backend)  # noqa: E731
    w32, w64 = on(np.ones(3, np.float32)), on(np.ones(3, np.float64))
    with pytest.raises(ValueError, match="one gradient and two states per parameter"):
        optim.adam_update_many_kernel([w32], [w32, w32], [w32], [w32], 0.1, backend=kernel_backend)
    with pytest.raises(ValueError, match="one launch updates parameters of one dtype"):
        optim.adam_update_many_kernel([w32, w64], [w32, w64], [w32, w64], [w32, w64], 0.1, backend=kernel_backend)
    with pytest.raises(ValueError, match="m must have the parameter's shape"):
        optim.adam_update_many_kernel([w32], [w32], [on(np.ones(4, np.float32))], [w32], 0.1, backend=kernel_backend)
    with pytest.raises(ValueError, match="step counts from 1"):
        optim.adam_update_many_kernel([w32], [w32], [w32], [w32], 0.1, step=0, backend=kernel_backend)


def test_the_backend_takes_many_parameters_together_or_each_alone(rng, kernel_backend, monkeypatch):
    """One launch when every state can be updated in place; a strided state sends them to the loop."""
    ours = KernelBackend(backend_xp(kernel_backend))
    together = []
    monkeypatch.setattr(optim, "adam_update_many_kernel",
                        lambda *args, **kwargs: together.append(1) or ADAM_MANY(*args, **kwargs))
    for strided in (False, True):
        w = [ours.asarray(random_array(rng, shape, np.float32)) for shape in ((5,), (4, 3))]
        g = [ours.asarray(random_array(rng, a.shape, np.float32)) for a in w]
        m = [ours.asarray(random_array(rng, a.shape, np.float32)) for a in w]
        v = [ours.asarray(random_array(rng, a.shape, np.float32, *SQUARES)) for a in w]
        if strided:
            m[1] = ours.asarray(random_array(rng, (4, 6), np.float32))[:, ::2]
        expected = [[a.astype(np.float64) for a in arrays] for arrays in (w, m, v)]
        ours.adam_update_many(w, g, m, v, 0.01, 0.9, 0.999, 1e-7, 2)
        for i in range(2):
            optim.adam_update(expected[0][i], g[i].astype(np.float64), expected[1][i], expected[2][i], 0.01, step=2)
            assert_close(w[i], expected[0][i])
        assert len(together) == 1, "one call for both when in place, none with a strided state"
