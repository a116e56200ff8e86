"""Mechanisms an ablation switches on and off: each names its two arms as (model, options) overrides.

A mechanism is a frozen dataclass of its own options (how heterogeneous, how sparse), registered by name with
`@register_mechanism("<name>")`. `mechanism.arms(arch, options)` takes the architecture and model options the
user chose and returns the arm *with* the mechanism and the arm *without* it; everything else about the two
arms (task, sizes, seeds, training) is the ablation's and held equal. A mechanism lists the architectures it
applies to (`archs`); asking for another is refused with a ConfigError naming both.

    @register_mechanism("slow_membrane")
    @dataclasses.dataclass(frozen=True)
    class SlowMembrane(Mechanism):
        archs = ("lif", "alif")
        tau: float = option(100.0, gt=0)

        def split(self, arch, options):
            return Arm(arch, {**options, "tau_mem": self.tau}), Arm(arch, dict(options))

References: Perez-Nieves, Leung, Dragotti & Goodman 2021, "Neural heterogeneity promotes robust learning",
Nat. Commun. (heterogeneous and learned time constants); Bellec et al. 2018 (adaptation); Béna & Goodman 2025
(connected modules).
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Callable, ClassVar, TypeVar

from dynascope._registry import Registry, option
from dynascope.errors import ConfigError

__all__ = [
    "Arm",
    "Mechanism",
    "get_mechanism",
    "mechanism_names",
    "register_mechanism",
]

#: The spiking architectures whose options carry the neuron-level mechanisms (`models._spiking.Spiking`).
SPIKING = ("lif", "alif")


@dataclasses.dataclass(frozen=True)
class Arm:
    """One arm of an ablation: the registered model `arch` and the options it is built with."""

    arch: str
    options: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Mechanism(abc.ABC):
    """Base of every mechanism: `split` gives the (with, without) arms of an architecture and its options."""

    name: ClassVar[str] = ""
    #: Architectures the mechanism applies to; None: every architecture.
    archs: ClassVar[tuple[str, ...] | None] = None

    @abc.abstractmethod
    def split(self, arch: str, options: dict[str, Any]) -> tuple[Arm, Arm]:
        """(with, without) for an `arch` the mechanism applies to, built with model options `options`."""

    def arms(self, arch: str, options: dict[str, Any] | None = None) -> tuple[Arm, Arm]:
        """(with, without): `split`, after checking the mechanism applies to `arch` (ConfigError naming the
        mechanism, the architecture and the architectures it applies to otherwise)."""
        if self.archs is not None and arch not in self.archs:
            raise ConfigError(
                f"mechanism {self.name!r} does not apply to architecture {arch!r}: it applies to "
                f"{', '.join(self.archs)}; choose one of those with --arch, or another --mechanism."
            )
        return self.split(arch, dict(options or {}))

    def options(self) -> dict[str, Any]:
        """The mechanism's own options, as a plain dict."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


_MECHANISMS: Registry[type[Mechanism]] = Registry("mechanism")
M = TypeVar("M", bound=type[Mechanism])


def register_mechanism(name: str) -> Callable[[M], M]:
    """Class decorator that makes a Mechanism subclass available as `get_mechanism(name, ...)`."""
    return _MECHANISMS.register(name)  # type: ignore[return-value]


def mechanism_names() -> list[str]:
    """Sorted names of the registered mechanisms."""
    return sorted(_MECHANISMS.names())


def get_mechanism(name: str, **options: Any) -> Mechanism:
    """The mechanism registered as `name`, with its options checked.

    Args:
        name: a registered mechanism name.
        **options: the mechanism's options (its dataclass fields).

    Returns:
        The `Mechanism`.

    Raises:
        UnknownNameError: no mechanism of that name (listing what exists); ConfigError: an unknown option
        or a value of the wrong type or outside its constraint.
    """
    return _MECHANISMS.get(name, **options)


# -- the mechanisms ------------------------------------------------------------------------------------
@register_mechanism("none")
@dataclasses.dataclass(frozen=True)
class NoMechanism(Mechanism):
    """The control: both arms are the chosen architecture with the chosen options, unchanged. An ablation of
    it must find no difference (size-equivalence factor 1)."""

    def split(self, arch: str, options: dict[str, Any]) -> tuple[Arm, Arm]:
        return Arm(arch, dict(options)), Arm(arch, dict(options))


@register_mechanism("hetero_tau")
@dataclasses.dataclass(frozen=True)
class HeterogeneousTau(Mechanism):
    """Heterogeneous vs homogeneous time constants: per-neuron membrane and synaptic time constants drawn
    from gamma distributions with coefficient of variation `spread` (`tau_spread`), against all equal (0).
    Perez-Nieves et al. 2021."""

    archs = SPIKING
    spread: float = option(0.5, gt=0, doc="coefficient of variation of the heterogeneous time constants")

    def split(self, arch: str, options: dict[str, Any]) -> tuple[Arm, Arm]:
        return Arm(arch, {**options, "tau_spread": self.spread}), Arm(arch, {**options, "tau_spread": 0.0})


@register_mechanism("learned_tau")
@dataclasses.dataclass(frozen=True)
class LearnedTau(Mechanism):
    """Time constants trained with the weights (`learn_tau`) vs held at their initial values; the initial
    values (`tau_spread` of the chosen options) are the same in both arms. Perez-Nieves et al. 2021."""

    archs = SPIKING

    def split(self, arch: str, options: dict[str, Any]) -> tuple[Arm, Arm]:
        return Arm(arch, {**options, "learn_tau": True}), Arm(arch, {**options, "learn_tau": False})


@register_mechanism("adaptation")
@dataclasses.dataclass(frozen=True)
class Adaptation(Mechanism):
    """Spike-frequency adaptation on vs off: `alif` with a fraction `fraction` of adaptive neurons against the
    same network with none (`adaptive_fraction` 0, identical parameters); for `lif`, the `alif` with the same
    options against the plain `lif`. Bellec et al. 2018."""

    archs = SPIKING
    fraction: float = option(0.5, gt=0, le=1, doc="fraction of adaptive neurons in the arm with adaptation")

    def split(self, arch: str, options: dict[str, Any]) -> tuple[Arm, Arm]:
        adaptive = Arm("alif", {**options, "adaptive_fraction": self.fraction})
        if arch == "lif":
            return adaptive, Arm("lif", dict(options))
        return adaptive, Arm("alif", {**options, "adaptive_fraction": 0.0})


@register_mechanism("dale")
@dataclasses.dataclass(frozen=True)
class DaleLaw(Mechanism):
    """Dale's law on vs off: recurrent weights whose signs are fixed by the presynaptic neuron (a fraction
    `e_fraction` excitatory) against unconstrained ones."""

    archs = SPIKING
    e_fraction: float = option(0.8, gt=0, lt=1, doc="fraction of excitatory neurons in the arm with Dale's law")

    def split(self, arch: str, options: dict[str, Any]) -> tuple[Arm, Arm]:
        return Arm(arch, {**options, "dale": True, "e_fraction": self.e_fraction}), Arm(arch, {**options, "dale": False})


@register_mechanism("sparsity")
@dataclasses.dataclass(frozen=True)
class Sparsity(Mechanism):
    """Sparse vs dense recurrent connectivity: each connection present with probability `connectivity` (a
    fixed random mask per network) against all present. Run it at several levels to map the effect. With
    `--model-opt sparse=true` the sparse arm stores only its connections (`lif`'s `sparse`); the dense arm,
    where every connection exists, is stored dense."""

    archs = SPIKING
    connectivity: float = option(0.2, gt=0, lt=1, doc="probability of each recurrent connection in the sparse arm")

    def split(self, arch: str, options: dict[str, Any]) -> tuple[Arm, Arm]:
        dense = {k: v for k, v in options.items() if k != "sparse"}
        return Arm(arch, {**options, "connectivity": self.connectivity}), Arm(arch, {**dense, "connectivity": 1.0})


@register_mechanism("spiking")
@dataclasses.dataclass(frozen=True)
class Spiking(Mechanism):
    """Spiking vs rate: the chosen spiking network against a continuous-time rate network (`ctrnn`) of the
    same size whose Euler step matches the spiking neurons' membrane, α = dt/τ_mem (capped at 1); the rate
    network's other options are its defaults."""

    archs = SPIKING

    def split(self, arch: str, options: dict[str, Any]) -> tuple[Arm, Arm]:
        from dynascope import models

        neuron = models.get(arch, n_inputs=1, n_hidden=1, n_outputs=1, **options)
        alpha = min(1.0, neuron.dt / neuron.tau_mem)  # type: ignore[attr-defined]
        return Arm(arch, dict(options)), Arm("ctrnn", {"alpha": alpha})


@register_mechanism("delays")
@dataclasses.dataclass(frozen=True)
class Delays(Mechanism):
    """Per-connection recurrent delays on vs off: delays of up to `max_delay` steps (drawn, and trained when
    `learn`) against none (`max_delay` 0). Hammouamri et al. 2023."""

    archs = SPIKING
    max_delay: int = option(5, gt=0, doc="largest recurrent delay in steps in the arm with delays")
    learn: bool = True

    def split(self, arch: str, options: dict[str, Any]) -> tuple[Arm, Arm]:
        with_delays = {**options, "max_delay": self.max_delay, "learn_delays": self.learn}
        without = {k: v for k, v in options.items() if k not in ("learn_delays", "delay_init")}
        return Arm(arch, with_delays), Arm(arch, {**without, "max_delay": 0})


@register_mechanism("inter_module")
@dataclasses.dataclass(frozen=True)
class InterModule(Mechanism):
    """Connected vs disconnected modules of a two-module network: a fraction `fraction` of the possible
    between-module links (`inter_fraction`) against none, every within-module link and each module's own input
    stream kept in both arms. A task whose output needs both streams (`sign_match`) cannot be solved without
    it; one whose inputs all reach one module cannot need it. Béna & Goodman 2025."""

    archs = ("modular", "modular_lif")
    fraction: float = option(1.0, gt=0, le=1, doc="fraction of the between-module links in the arm with them")

    def split(self, arch: str, options: dict[str, Any]) -> tuple[Arm, Arm]:
        return Arm(arch, {**options, "inter_fraction": self.fraction}), Arm(arch, {**options, "inter_fraction": 0.0})
