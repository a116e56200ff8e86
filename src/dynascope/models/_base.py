"""The Model contract: a frozen dataclass of hyperparameters plus pure functions of a params pytree."""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from dynascope._registry import option

Params = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class Model(abc.ABC):
    """A recurrent network: `step(params, state, x) -> state` is the map F whose fixed points we study.

    The state is a flat vector `[n_state]` (LSTM: h and c concatenated). Continuous-time models
    (`continuous = True`) are Euler discretisations `x + alpha * f(x, u)` of a flow f, and are analysed
    as flows; the others are analysed as maps. Sizes: `n_inputs` I, `n_hidden` H units, `n_outputs` O.
    """

    name: ClassVar[str] = ""
    continuous: ClassVar[bool] = False
    #: Parameters every model has: the readout (`readout`: W_out `[O, H]`, b_out `[O]`) and the trained
    #: initial state (`initial_state`: h0 `[S]`). The non-gated models name the rest W_in `[H, I]`,
    #: W_rec `[H, H]` and b `[H]`; the gated ones keep the names of the torch cells they mirror.
    required_params: ClassVar[tuple[str, ...]] = ("W_out", "b_out", "h0")
    #: Names this model's parameters had in earlier releases -> their names now, so runs written then load.
    renamed_params: ClassVar[dict[str, str]] = {}

    n_inputs: int = option(gt=0)
    n_hidden: int = option(gt=0)
    n_outputs: int = option(gt=0)

    # -- shape ---------------------------------------------------------------------------------
    @property
    def n_state(self) -> int:
        """Length S of the flat state vector."""
        return self.n_hidden

    @property
    def alpha(self) -> float:
        """Euler step dt/τ of a continuous-time model; 1 for maps."""
        return 1.0

    # -- the contract ----------------------------------------------------------------------------
    @abc.abstractmethod
    def init(self, key: jax.Array) -> Params:
        """Draw parameters (a dict of float32 arrays) from the model's documented initialisation."""

    @abc.abstractmethod
    def step(self, params: Params, state: jax.Array, x: jax.Array) -> jax.Array:
        """One time step: state `[S]`, input `[I]` -> next state `[S]`."""

    def initial_state(self, params: Params) -> jax.Array:
        """The (trained) initial state `[S]`."""
        return params["h0"]

    def activity(self, state: jax.Array) -> jax.Array:
        """The unit activity `[..., H]` that is read out and regularised (LSTM: h; rate nets: rates)."""
        return state

    def readout(self, params: Params, state: jax.Array) -> jax.Array:
        """Linear readout `[..., O]` of `activity(state)`."""
        return self.activity(state) @ params["W_out"].T + params["b_out"]

    def flow(self, params: Params, state: jax.Array, x: jax.Array) -> jax.Array:
        """The vector field whose zeros are fixed points: (F(s) − s)/alpha for flows, F(s) − s for maps."""
        return (self.step(params, state, x) - state) / self.alpha

    def run(
        self,
        params: Params,
        inputs: jax.Array,
        *,
        noise_key: jax.Array | None = None,
        noise_std: float = 0.0,
        initial_states: jax.Array | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        """Run a batch: inputs `[B,T,I]` -> (states `[B,T,S]`, outputs `[B,T,O]`).

        With `noise_key`, Gaussian noise of standard deviation `noise_std·sqrt(alpha)` is added to the
        state after every step (recurrent noise of a continuous-time model, state noise otherwise).
        `initial_states [B,S]` overrides the trained initial state.
        """
        batch = inputs.shape[0]
        if initial_states is None:
            initial_states = jnp.broadcast_to(self.initial_state(params), (batch, self.n_state))
        step = jax.vmap(self.step, in_axes=(None, 0, 0))
        xs = jnp.swapaxes(inputs, 0, 1)
        # A traced noise_std (a vmapped noise sweep) cannot be compared to 0 in Python; it takes the noisy path.
        if noise_key is None or (isinstance(noise_std, (int, float)) and noise_std == 0.0):

            def body(s, x):
                s = step(params, s, x)
                return s, s

            _, states = jax.lax.scan(body, initial_states, xs)
        else:
            keys = jax.random.split(noise_key, xs.shape[0])
            scale = noise_std * jnp.sqrt(self.alpha)

            def body(s, xk):
                x, k = xk
                s = step(params, s, x)
                s = s + scale * jax.random.normal(k, s.shape, s.dtype)
                return s, s

            _, states = jax.lax.scan(body, initial_states, (xs, keys))
        states = jnp.swapaxes(states, 0, 1)
        return states, self.readout(params, states)

    # -- bookkeeping -----------------------------------------------------------------------------
    def weight_names(self, params: Params) -> list[str]:
        """Names of the weight matrices that L2 regularisation acts on (every parameter with ndim ≥ 2)."""
        return [k for k, v in params.items() if v.ndim >= 2]

    def validate(self) -> None:
        """Check the rules that relate several hyperparameters; raise ConfigError naming them.

        Each hyperparameter's type and its own constraint are declared on its field (`option(..., gt=0)`)
        and checked by `models.get` before this runs; subclasses override this only for cross-option rules.
        """

    def options(self) -> dict[str, Any]:
        """Hyperparameters other than the sizes, as a plain dict."""
        skip = {"n_inputs", "n_hidden", "n_outputs"}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init and f.name not in skip}

    def upgrade_params(self, params: Params) -> Params:
        """`params` with every name of an earlier release (`renamed_params`) replaced by today's (a name
        whose new name is also present is left as it is, for `check_params` to refuse)."""
        new = self.renamed_params
        return {(new[k] if k in new and new[k] not in params else k): v for k, v in params.items()}

    def check_params(self, params: Params) -> None:
        """Raise ShapeError unless `params` has exactly the names and shapes `init` produces."""
        from dynascope.errors import ShapeError

        ref = jax.eval_shape(self.init, jax.random.key(0))
        if set(ref) != set(params):
            old = sorted(set(params) & set(self.renamed_params))
            hint = (f"; {', '.join(map(repr, old))} are names of an earlier release: "
                    "model.upgrade_params(params) renames them") if old else ""
            raise ShapeError(
                f"{self.name} parameters must be named {sorted(ref)}, got {sorted(params)}{hint}."
            )
        for k, v in ref.items():
            if tuple(params[k].shape) != tuple(v.shape):
                raise ShapeError(
                    f"{self.name} parameter {k!r} must have shape {tuple(v.shape)}, got {tuple(params[k].shape)}."
                )
