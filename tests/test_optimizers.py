"""Optimizers: two steps against Keras 3's update formulas written out by hand, defaults, names."""

import numpy as np
import pytest

from cnn_gpu import optimizers
from cnn_gpu.optimizers import SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, Lion, Nadam, RMSprop

W0 = np.array([0.5, -1.5, 2.0])
GRADS = [np.array([0.1, -0.2, 0.3]), np.array([-0.4, 0.05, 0.2])]


def run(optimizer):
    """Two steps on a float64 parameter; returns it after each step."""
    w = W0.copy()
    after = []
    for g in GRADS:
        optimizer.apply([g.copy()], [w])
        after.append(w.copy())
    return after


def sgd_expected(lr, momentum, nesterov):
    w, v, out = W0.copy(), np.zeros(3), []
    for g in GRADS:
        v = momentum * v - lr * g
        w = w + (momentum * v - lr * g if nesterov else v)
        out.append(w)
    return out


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_matches_keras(momentum, nesterov):
    got = run(SGD(learning_rate=0.1, momentum=momentum, nesterov=nesterov))
    np.testing.assert_allclose(got, sgd_expected(0.1, momentum, nesterov), rtol=1e-14)


def test_plain_sgd_is_w_minus_lr_g():
    np.testing.assert_allclose(run(SGD(0.1))[0], W0 - 0.1 * GRADS[0], rtol=1e-14)


def test_adam_matches_keras():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w, m, v, expected = W0.copy(), np.zeros(3), np.zeros(3), []
    for t, g in enumerate(GRADS, start=1):
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        w = w - alpha * m / (np.sqrt(v) + eps)
        expected.append(w)
    np.testing.assert_allclose(run(Adam(learning_rate=lr)), expected, rtol=1e-14)


def test_amsgrad_divides_by_the_largest_second_moment_so_far():
    """A large gradient then small ones: v falls back, v_hat keeps its peak and the steps stay small."""
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    grads = [np.array([3.0, -2.0, 0.5]), np.array([0.1, 0.1, 0.1]), np.array([-0.2, 0.05, 0.0])]
    optimizer, w = Adam(learning_rate=lr, amsgrad=True), W0.copy()
    m, v, v_hat, expected = np.zeros(3), np.zeros(3), np.zeros(3), W0.copy()
    for t, g in enumerate(grads, start=1):
        optimizer.apply([g.copy()], [w])
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        v_hat = np.maximum(v_hat, v)
        expected = expected - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(w, expected, rtol=1e-14)
    assert list(optimizer.slots[0]) == ["momentum", "velocity", "velocity_hat"]
    assert np.any(optimizer.slots[0]["velocity_hat"] > optimizer.slots[0]["velocity"]), "v fell below its peak"


def test_rmsprop_matches_keras():
    lr, rho, eps = 0.01, 0.9, 1e-7
    w, v, expected = W0.copy(), np.zeros(3), []
    for g in GRADS:
        v = rho * v + (1 - rho) * g * g
        w = w - lr * g / np.sqrt(v + eps)  # Keras puts epsilon under the root
        expected.append(w)
    np.testing.assert_allclose(run(RMSprop(learning_rate=lr)), expected, rtol=1e-14)


def test_adamw_is_adam_after_keras_weight_decay():
    lr, wd, b1, b2, eps = 0.01, 0.2, 0.9, 0.999, 1e-7
    w, m, v, expected = W0.copy(), np.zeros(3), np.zeros(3), []
    for t, g in enumerate(GRADS, start=1):
        w = w - w * wd * lr  # Keras's _apply_weight_decay, before the step
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        w = w - alpha * m / (np.sqrt(v) + eps)
        expected.append(w)
    np.testing.assert_allclose(run(AdamW(learning_rate=lr, weight_decay=wd)), expected, rtol=1e-14)
    np.testing.assert_allclose(run(Adam(learning_rate=lr, weight_decay=wd)), expected, rtol=1e-14)


def test_weight_decay_comes_before_each_optimizers_step():
    w = run(SGD(learning_rate=0.1, weight_decay=0.5))[0]
    np.testing.assert_allclose(w, W0 - W0 * 0.5 * 0.1 - 0.1 * GRADS[0], rtol=1e-14)
    decayed = W0 - W0 * 0.5 * 0.01
    v = 0.1 * GRADS[0] ** 2  # rho 0.9 from a zero velocity
    w = run(RMSprop(learning_rate=0.01, weight_decay=0.5))[0]
    np.testing.assert_allclose(w, decayed - 0.01 * GRADS[0] / np.sqrt(v + 1e-7), rtol=1e-14)


def test_rmsprop_keeps_the_slots_it_uses_and_adagrad_starts_its_accumulator_where_asked():
    """Keras's slot names, only those the arguments use; two steps of the centered one with momentum
    against its formula, and Adagrad's first step from an accumulator of 0.3."""
    optimizer = RMSprop(learning_rate=0.01, momentum=0.5, centered=True)
    got = run(optimizer)
    assert list(optimizer.slots[0]) == ["velocity", "momentum", "average_gradient"]
    plain = RMSprop()
    plain.build([np.zeros(2)])
    assert list(plain.slots[0]) == ["velocity"]
    w, v, a, u, expected = W0.copy(), np.zeros(3), np.zeros(3), np.zeros(3), []
    for g in GRADS:
        v = 0.9 * v + 0.1 * g * g
        a = 0.9 * a + 0.1 * g
        u = 0.5 * u + 0.01 * g / np.sqrt(v - a * a + 1e-7)
        w = w - u
        expected.append(w)
    np.testing.assert_allclose(got, expected, rtol=1e-13)
    optimizer = Adagrad(learning_rate=0.1, initial_accumulator_value=0.3)
    got = run(optimizer)[0]
    np.testing.assert_allclose(got, W0 - 0.1 * GRADS[0] / np.sqrt(0.3 + GRADS[0] ** 2 + 1e-7), rtol=1e-14)
    np.testing.assert_allclose(optimizer.slots[0]["accumulator"], 0.3 + GRADS[0] ** 2 + GRADS[1] ** 2, rtol=1e-14)


def test_nadam_keeps_its_momentum_product_and_makes_it_again_after_a_load():
    """Step by step the running product of Dozat's schedule; an optimizer whose iterations were set (as a
    load sets them) computes it from the start, so its next step is the uninterrupted one's."""
    from cnn_gpu.ops.optim import nadam_momentum_product

    whole = Nadam(learning_rate=0.01)
    w = W0.copy()
    for g in GRADS + GRADS:
        whole.apply([g.copy()], [w])
    assert whole.u_product == (4, pytest.approx(nadam_momentum_product(0.9, 4), rel=1e-15))
    resumed, w_resumed = Nadam(learning_rate=0.01), W0.copy()
    for g in GRADS:
        resumed.apply([g.copy()], [w_resumed])
    state = [dict(slots) for slots in resumed.slots]
    fresh = Nadam(learning_rate=0.01)
    fresh.build([w_resumed])
    for slots, saved in zip(fresh.slots, state):
        for name in slots:
            slots[name][...] = saved[name]
    fresh.iterations = resumed.iterations
    for g in GRADS:
        fresh.apply([g.copy()], [w_resumed])
    np.testing.assert_allclose(w_resumed, w, rtol=1e-14)


def test_keras_defaults_and_names():
    no_clipping = {"clipnorm": None, "clipvalue": None, "global_clipnorm": None}
    assert SGD().get_config() == {"name": "SGD", "learning_rate": 0.01, "weight_decay": None, "momentum": 0.0,
                                  "nesterov": False, **no_clipping}
    assert Adam().get_config() == {"name": "adam", "learning_rate": 0.001, "weight_decay": None, "beta_1": 0.9,
                                   "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False, **no_clipping}
    assert AdamW().get_config() == {"name": "adamw", "learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9,
                                    "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False, **no_clipping}
    assert RMSprop().get_config() == {"name": "rmsprop", "learning_rate": 0.001, "weight_decay": None, "rho": 0.9,
                                      "momentum": 0.0, "epsilon": 1e-7, "centered": False, **no_clipping}
    assert Adagrad().get_config() == {"name": "adagrad", "learning_rate": 0.001, "weight_decay": None,
                                      "initial_accumulator_value": 0.1, "epsilon": 1e-7, **no_clipping}
    for cls in (Adamax, Nadam):
        assert cls().get_config() == {"name": cls.__name__.lower(), "learning_rate": 0.001, "weight_decay": None,
                                      "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, **no_clipping}
    assert Lion().get_config() == {"name": "lion", "learning_rate": 0.001, "weight_decay": None, "beta_1": 0.9,
                                   "beta_2": 0.99, **no_clipping}
    assert Adadelta().get_config() == {"name": "adadelta", "learning_rate": 0.001, "weight_decay": None, "rho": 0.95,
                                       "epsilon": 1e-7, **no_clipping}
    names = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adamax", "nadam", "lion", "adadelta", "Adam")
    assert [type(optimizers.get(n)) for n in names] == [SGD, Adam, AdamW, RMSprop, Adagrad, Adamax, Nadam, Lion,
                                                        Adadelta, Adam]
    restored = optimizers.get({"class_name": "RMSprop", "config": RMSprop(momentum=0.5, centered=True).get_config()})
    assert (restored.momentum, restored.centered) == (0.5, True)
    restored = optimizers.get({"class_name": "AdamW", "config": AdamW(0.5, weight_decay=0.1).get_config()})
    assert (type(restored), restored.learning_rate, restored.weight_decay) == (AdamW, 0.5, 0.1)
    restored = optimizers.get({"class_name": "SGD", "config": SGD(0.5, momentum=0.8).get_config()})
    assert (restored.learning_rate, restored.momentum) == (0.5, 0.8)


@pytest.mark.parametrize("make, message", [
    (lambda: RMSprop(momentum=1.5), "RMSprop: momentum must be a number in [0, 1]"),
    (lambda: SGD(momentum=1.5), "momentum must be a number in [0, 1]"),
    (lambda: Adam(learning_rate=-1), "learning_rate must be a number"),
    (lambda: optimizers.get("ftrl"),
     "valid names are adadelta, adagrad, adam, adamax, adamw, lion, nadam, rmsprop, sgd"),
    (lambda: Lion(beta_1=0.0), "Lion: beta_1 must be a number in (0, 1], got 0.0"),
    (lambda: Adagrad(initial_accumulator_value=-1), "Adagrad: initial_accumulator_value must be a number in [0, inf]"),
    (lambda: Nadam(beta_2=1.0), "Nadam: beta_2 must be a number in [0, 1)"),
    (lambda: AdamW(weight_decay=None), "AdamW: weight_decay must be a number, got None"),
    (lambda: SGD(weight_decay=-0.1), "SGD: weight_decay must be a number in [0, inf]"),
])
def test_bad_arguments(make, message):
    with pytest.raises(ValueError) as error:
        make()
    assert message in str(error.value)


def test_a_schedule_gives_each_step_its_rate_and_round_trips(tmp_path):
    """Step k takes schedule(k) (k updates before it), the weight decay too; the rate is then not settable;
    a saved model's optimizer comes back with its schedule."""
    from cnn_gpu.layers import Dense, Input
    from cnn_gpu.models import Sequential, load_model
    from cnn_gpu.optimizers import schedules

    schedule = schedules.PiecewiseConstantDecay([0, 1], [0.5, 0.25, 0.125])
    optimizer = SGD(learning_rate=schedule, weight_decay=0.1)
    w = np.ones(3)
    for expected_rate in (0.5, 0.25, 0.125):
        assert optimizer.learning_rate == expected_rate
        before = w.copy()
        optimizer.apply([np.zeros(3)], [w])
        np.testing.assert_allclose(w, before * (1 - 0.1 * expected_rate), rtol=1e-15)
    with pytest.raises(TypeError, match="PiecewiseConstantDecay schedule, which sets the rate of every step"):
        optimizer.learning_rate = 0.1
    model = Sequential([Input((4,)), Dense(2)])
    model.compile(Adam(schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)), "mse")
    model.fit(np.ones((8, 4)), np.zeros((8, 2)), batch_size=4, epochs=1, verbose=0)
    model.save(tmp_path / "model.cnn")
    loaded = load_model(tmp_path / "model.cnn")
    assert isinstance(loaded.optimizer.schedule, schedules.ExponentialDecay)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.schedule(2) == model.optimizer.schedule(2) == 0.1 * 0.5 ** (2 / 3)


@pytest.mark.parametrize("make, message", [
    (lambda s: s.ExponentialDecay(0.1, decay_steps=0, decay_rate=0.5), "decay_steps must be a number > 0"),
    (lambda s: s.PiecewiseConstantDecay([1, 2], [0.1, 0.2]), "boundaries must be one fewer than values"),
    (lambda s: s.CosineDecay(0.1, decay_steps=-1), "decay_steps must be a number > 0"),
])
def test_bad_schedules_are_named(make, message):
    from cnn_gpu.optimizers import schedules

    with pytest.raises(ValueError, match=message):
        make(schedules)
