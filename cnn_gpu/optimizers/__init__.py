"""Keras 3's SGD, Adam, AdamW, RMSprop, Adagrad, Adamax, Nadam, Lion and Adadelta: the same arguments and
defaults; each step runs in the backend.

Every optimizer takes Keras's ``weight_decay`` (AdamW's is 0.004 by default, the others' None): before
each step, every variable shrinks by ``variable * weight_decay * learning_rate``, in the same kernel
as the step on the kernel backends; and Keras's ``clipnorm``, ``clipvalue`` or ``global_clipnorm``,
the gradients clipped before the step. ``learning_rate`` is a number or a schedule (``schedules``), which
gives each step its rate.
"""

from __future__ import annotations

from numbers import Real

from cnn_gpu.backend import get_backend
from cnn_gpu.ops import optim
from cnn_gpu.optimizers import schedules
from cnn_gpu.utils.checks import check_number
from cnn_gpu.utils.registry import Registry, serialize

OPTIMIZERS = Registry("optimizer")


class Optimizer:
    """``apply(grads, variables)`` updates the variables in place; slots are made on the first call."""

    slot_names = ()
    slot_start = {}  # a slot's starting value where it is not 0 (Adagrad's accumulator)

    def __init__(self, learning_rate, name, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None):
        self.name = name
        owner = type(self).__name__
        # Keras's gradient clipping (ops.optim.clip_gradients): at most one, a number (0 clips nothing).
        self.clipping = {name: None if value is None else check_number(owner, name, value, 0, float("inf"))
                         for name, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                             ("global_clipnorm", global_clipnorm))}
        given = [name for name, value in self.clipping.items() if value is not None]
        if len(given) > 1:
            raise ValueError(f"{owner}: only one of clipnorm, clipvalue and global_clipnorm can be set, got "
                             f"{', '.join(given)}")
        if isinstance(learning_rate, dict):  # a saved schedule
            learning_rate = schedules.get(learning_rate)
        self.schedule = learning_rate if isinstance(learning_rate, schedules.LearningRateSchedule) else None
        if self.schedule is None:
            self.learning_rate = learning_rate
        self.weight_decay = None if weight_decay is None else check_number(owner, "weight_decay", weight_decay, 0,
                                                                           float("inf"))
        self.iterations = 0
        self.slots = None
        self.step_rate = self.learning_rate  # the rate of the step being taken (apply sets it)

    @property
    def learning_rate(self):
        """The rate of the next step: the number given, or the schedule's at the steps taken so far."""
        return self._learning_rate if self.schedule is None else self.schedule(self.iterations)

    @learning_rate.setter
    def learning_rate(self, value):
        if getattr(self, "schedule", None) is not None:
            raise TypeError(f"{self.name}: its learning_rate is a {type(self.schedule).__name__} schedule, which "
                            "sets the rate of every step; it cannot be set as well")
        self._learning_rate = check_number(type(self).__name__, "learning_rate", value, 0, float("inf"))

    @property
    def decay_per_step(self):
        """What each step first takes off every variable, as a fraction of it: weight_decay * the step's rate."""
        return (self.weight_decay or 0.0) * self.step_rate

    @property
    def built(self):
        return self.slots is not None

    def build(self, variables):
        backend = get_backend()
        self.slots = [{name: backend.zeros(v.shape, v.dtype) for name in self.slot_names} for v in variables]
        for slots in self.slots:
            for name, value in self.slot_start.items():
                slots[name].fill(value)

    def apply(self, grads, variables):
        """One step on every variable; the same list of variables every call."""
        if self.slots is None:
            self.build(variables)
        if len(variables) != len(self.slots) or len(grads) != len(variables):
            raise ValueError(f"{self.name}: built for {len(self.slots)} variables, got {len(variables)} "
                             f"variables and {len(grads)} gradients")
        if any(self.clipping.values()):
            grads = get_backend().clip_gradients(grads, **self.clipping)
        self.step_rate = self.learning_rate  # Keras's: the schedule at the steps taken before this one
        self.iterations += 1
        self.update_all(grads, variables)

    def update_all(self, grads, variables):
        """One step on every variable: update_step on each, unless an optimizer takes them together."""
        for grad, variable, slots in zip(grads, variables, self.slots):
            self.update_step(grad, variable, slots)

    def update_step(self, grad, variable, slots):
        raise NotImplementedError

    @property
    def variables(self):
        """The slot arrays (what Keras's summary counts as optimizer params, with step and rate)."""
        return [slot for slots in self.slots or [] for slot in slots.values()]

    def get_config(self):
        learning_rate = self.learning_rate if self.schedule is None else serialize(self.schedule)
        return {"name": self.name, "learning_rate": learning_rate, "weight_decay": self.weight_decay, **self.clipping}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@OPTIMIZERS.register("sgd")
class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, name="SGD", **clipping):
        super().__init__(learning_rate, name, weight_decay, **clipping)
        self.momentum = check_number("SGD", "momentum", momentum, 0, 1)
        self.nesterov = bool(nesterov)
        # Keras keeps no velocity without momentum.
        self.slot_names = ("momentum",) if self.momentum else ()

    def update_step(self, grad, variable, slots):
        get_backend().sgd_update(variable, grad, slots.get("momentum"), self.step_rate, self.momentum,
                                 self.nesterov, self.decay_per_step)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class AdamFamily(Optimizer):
    """Adam and its variants (AdamW, Adamax, Nadam): the arguments they share, beta_1, beta_2 and epsilon,
    checked and saved."""

    def __init__(self, learning_rate, beta_1, beta_2, epsilon, weight_decay, name, **clipping):
        super().__init__(learning_rate, name, weight_decay, **clipping)
        owner = type(self).__name__
        self.beta_1 = check_number(owner, "beta_1", beta_1, 0, 1, high_inclusive=False)
        self.beta_2 = check_number(owner, "beta_2", beta_2, 0, 1, high_inclusive=False)
        self.epsilon = check_number(owner, "epsilon", epsilon, 0, float("inf"))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


@OPTIMIZERS.register("adam")
class Adam(AdamFamily):
    """Kingma and Ba's Adam; with ``amsgrad``, Reddi et al.'s variant, which divides by the largest
    second moment so far (Keras's slot velocity_hat)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=None,
                 name="adam", **clipping):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay, name, **clipping)
        self.amsgrad = bool(amsgrad)
        self.slot_names = ("momentum", "velocity") + ("velocity_hat",) * self.amsgrad

    def update_all(self, grads, variables):
        backend = get_backend()
        if self.amsgrad:
            for grad, variable, slots in zip(grads, variables, self.slots):
                backend.adam_update(variable, grad, slots["momentum"], slots["velocity"], self.step_rate,
                                    self.beta_1, self.beta_2, self.epsilon, self.iterations, self.decay_per_step,
                                    slots["velocity_hat"])
            return
        # Every variable at once: a kernel backend takes them in one launch per eight.
        backend.adam_update_many(variables, grads, [s["momentum"] for s in self.slots],
                                 [s["velocity"] for s in self.slots], self.step_rate, self.beta_1, self.beta_2,
                                 self.epsilon, self.iterations, self.decay_per_step)

    def get_config(self):
        return {**super().get_config(), "amsgrad": self.amsgrad}


@OPTIMIZERS.register("adamw")
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): Keras's AdamW, weight_decay 0.004."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name="adamw", **clipping):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a number, got None (use Adam for none)")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, name, **clipping)


@OPTIMIZERS.register("rmsprop")
class RMSprop(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=None,
                 name="rmsprop", **clipping):
        super().__init__(learning_rate, name, weight_decay, **clipping)
        self.rho = check_number("RMSprop", "rho", rho, 0, 1)
        self.momentum = check_number("RMSprop", "momentum", momentum, 0, 1)
        self.epsilon = check_number("RMSprop", "epsilon", epsilon, 0, float("inf"))
        self.centered = bool(centered)
        # Keras keeps the momentum and the mean gradient only where they are used.
        self.slot_names = ("velocity",) + ("momentum",) * (self.momentum > 0) + ("average_gradient",) * self.centered

    def update_step(self, grad, variable, slots):
        get_backend().rmsprop_update(variable, grad, slots["velocity"], self.step_rate, self.rho, self.epsilon,
                                     self.decay_per_step, slots.get("average_gradient"), self.momentum,
                                     slots.get("momentum"))

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


@OPTIMIZERS.register("adagrad")
class Adagrad(Optimizer):
    """Each element's rate shrinks with the sum of its squared gradients, a sum that starts at
    ``initial_accumulator_value``."""

    slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 name="adagrad", **clipping):
        super().__init__(learning_rate, name, weight_decay, **clipping)
        self.initial_accumulator_value = check_number("Adagrad", "initial_accumulator_value",
                                                      initial_accumulator_value, 0, float("inf"))
        self.epsilon = check_number("Adagrad", "epsilon", epsilon, 0, float("inf"))
        self.slot_start = {"accumulator": self.initial_accumulator_value}

    def update_step(self, grad, variable, slots):
        get_backend().adagrad_update(variable, grad, slots["accumulator"], self.step_rate, self.epsilon,
                                     self.decay_per_step)

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


@OPTIMIZERS.register("adamax")
class Adamax(AdamFamily):
    """Adam with the infinity norm of the past gradients, max(beta_2 u, |g|), in place of their root
    mean square."""

    slot_names = ("momentum", "norm")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, name="adamax",
                 **clipping):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay, name, **clipping)

    def update_step(self, grad, variable, slots):
        get_backend().adamax_update(variable, grad, slots["momentum"], slots["norm"], self.step_rate, self.beta_1,
                                    self.beta_2, self.epsilon, self.iterations, self.decay_per_step)


@OPTIMIZERS.register("nadam")
class Nadam(AdamFamily):
    """Adam with Nesterov momentum, on Dozat's momentum schedule; the running product of that schedule
    (Keras's ``u_product``) is kept step to step and made again from ``iterations`` after a load."""

    slot_names = ("momentum", "velocity")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, name="nadam",
                 **clipping):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay, name, **clipping)
        self.u_product = (0, 1.0)  # (step, u_1 ... u_step)

    def update_all(self, grads, variables):
        done, product = self.u_product
        step = self.iterations
        product = (product * optim.nadam_momentum(self.beta_1, step) if done == step - 1
                   else optim.nadam_momentum_product(self.beta_1, step))
        self.u_product = (step, product)
        backend = get_backend()
        for grad, variable, slots in zip(grads, variables, self.slots):
            backend.nadam_update(variable, grad, slots["momentum"], slots["velocity"], self.step_rate, self.beta_1,
                                 self.beta_2, self.epsilon, step, product, self.decay_per_step)


@OPTIMIZERS.register("lion")
class Lion(Optimizer):
    """Each element moves by the learning rate in the sign of a momentum-gradient mix (Chen et al. 2023);
    Keras's defaults, learning rate 0.001 and betas 0.9 and 0.99 (its authors suggest a rate 3-10x
    smaller than Adam's)."""

    slot_names = ("momentum",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None, name="lion", **clipping):
        super().__init__(learning_rate, name, weight_decay, **clipping)
        # beta_1 = 0 would make Lion signSGD, which Keras refuses.
        if not (isinstance(beta_1, Real) and not isinstance(beta_1, bool) and 0 < beta_1 <= 1):
            raise ValueError(f"Lion: beta_1 must be a number in (0, 1], got {beta_1!r}")
        self.beta_1 = float(beta_1)
        self.beta_2 = check_number("Lion", "beta_2", beta_2, 0, 1)

    def update_step(self, grad, variable, slots):
        get_backend().lion_update(variable, grad, slots["momentum"], self.step_rate, self.beta_1, self.beta_2,
                                  self.decay_per_step)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


@OPTIMIZERS.register("adadelta")
class Adadelta(Optimizer):
    """Zeiler's Adadelta: each step the ratio of the running RMS of past steps to that of past gradients,
    times the learning rate (Keras's default 0.001; Zeiler's method has none, i.e. 1.0)."""

    slot_names = ("accumulated_grad", "accumulated_delta_var")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None, name="adadelta", **clipping):
        super().__init__(learning_rate, name, weight_decay, **clipping)
        self.rho = check_number("Adadelta", "rho", rho, 0, 1)
        self.epsilon = check_number("Adadelta", "epsilon", epsilon, 0, float("inf"))

    def update_step(self, grad, variable, slots):
        get_backend().adadelta_update(variable, grad, slots["accumulated_grad"], slots["accumulated_delta_var"],
                                      self.step_rate, self.rho, self.epsilon, self.decay_per_step)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


def get(identifier):
    """An optimizer from 'sgd', 'adam', 'adamw', 'rmsprop', 'adagrad', 'adamax', 'nadam', 'lion', 'adadelta', a
    config dict or an instance."""
    return OPTIMIZERS.get(identifier)
