"""Random, valid NetSpecs for tests and benchmarks (no training needed)."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from .netspec import NONE_NEURON, InputSpec, LayerSpec, NetSpec, NeuronSpec


def random_netspec(seed: int = 0, sizes=(64, 32, 10), weight_bits=(1, 4), timesteps: int = 8,
                   input_bits: int = 5, input_max: int = 16, thresholds=(40, 10),
                   state_bits=(16, 12), reset: str = "subtract", binary_scale: int = 2) -> NetSpec:
    """A random, valid NetSpec of linear layers with IF neurons.

    Parameters
    ----------
    seed : int
        Seed of the weights and biases.
    sizes : sequence of int
        Input size, then the neurons of each layer.
    weight_bits : sequence of int
        Per layer: 1 for binary ±1 weights (times ``binary_scale``), else signed int-k.
    timesteps, input_bits, input_max : int
        T, and the width and largest value of the direct-coded input.
    thresholds, state_bits : sequence of int
        Per layer: IF threshold and membrane width.
    reset : str
        ``"subtract"`` or ``"zero"`` for every layer.
    """
    rng = np.random.default_rng(seed)
    layers = []
    for index, bits in enumerate(weight_bits):
        n_in, n_out = sizes[index], sizes[index + 1]
        if bits == 1:
            weights, scale = rng.choice([-1, 1], (n_out, n_in)), binary_scale
        else:
            half = 1 << (bits - 1)
            weights, scale = rng.integers(-half, half, (n_out, n_in)), 1
        layers.append(LayerSpec(name=f"fc{index + 1}", kind="linear", weights=weights,
                                weight_bits=bits, scale=scale, bias=rng.integers(-4, 5, n_out),
                                neuron=NeuronSpec("if", thresholds[index], reset, state_bits[index])))
    return NetSpec(InputSpec(sizes[0], "direct", input_bits, input_max), tuple(layers),
                   timesteps).validate()


# ---- random networks of every kind, for property-based co-simulation ---------------------------

DEFAULT_KINDS = ("if", "lif", "mtlif", "bistable")
DEFAULT_ENCODINGS = ("direct", "rate", "latency", "hybrid")


@dataclass(frozen=True, eq=False)
class RandomNetwork:
    """One randomly drawn network with what it takes to test it.

    Attributes
    ----------
    spec : NetSpec
        A validated NetSpec of linear layers (its ``metadata`` records ``seed``).
    lanes : tuple of int
        Lanes per layer, each in ``1..n_out``.
    images : numpy.ndarray
        Input images, shape ``(n, input.size)``, values in ``0..input.max_value``.
    seed : int
        Seed of the numpy generator that drew the weights, biases, tables and images.
    """

    spec: NetSpec
    lanes: tuple
    images: np.ndarray
    seed: int

    def describe(self) -> str:
        """One line: layer sizes, neurons, widths, T, encoding and lanes (for messages)."""
        spec = self.spec
        layers = ", ".join(_describe_layer(layer) for layer in spec.layers)
        return (f"seed {self.seed}: {spec.input.encoding} in{spec.input.bits}b<= "
                f"{spec.input.value_max}, T {spec.timesteps}, [{layers}], lanes {list(self.lanes)}")


def _describe_layer(layer) -> str:
    """One layer for :meth:`RandomNetwork.describe` (linear layers as they always were: the pinned
    digests of the drawn sets hash these lines)."""
    neuron = (f" {layer.neuron.kind}/{layer.neuron.reset} s{layer.neuron.state_bits}"
              f" θ{layer.neuron.threshold}")
    if layer.kind == "linear":
        return (f"{layer.n_in}->{layer.n_out} w{layer.weight_bits}"
                + (f"x{layer.scale}" if layer.weight_bits == 1 else "") + neuron)
    if layer.kind == "conv2d":
        return (f"conv {layer.n_in}->{layer.n_out} k{layer.weights.shape[2]} s{layer.stride}"
                f" p{layer.padding} w{layer.weight_bits}"
                + (f"x{layer.scale}" if layer.weight_bits == 1 else "") + neuron)
    if layer.kind == "residual":
        return f"residual +{layer.source} d{layer.delay}" + neuron
    if layer.kind in ("sumpool", "avgpool", "orpool"):
        return f"{layer.kind} k{layer.kernel} s{layer.stride} >>{layer.shift}"
    return f"{layer.kind} >>{layer.shift}" if layer.kind == "gap" else layer.kind


def network_strategy(neuron_kinds=DEFAULT_KINDS, encodings=DEFAULT_ENCODINGS, max_layers: int = 3,
                     max_inputs: int = 20, max_neurons: int = 12, max_outputs: int = 8,
                     max_timesteps: int = 8, max_images: int = 4, image_layers: bool = False):
    """A hypothesis strategy of :class:`RandomNetwork` s: linear layers of any supported neuron.

    Hypothesis draws the structure (layer count and sizes, weight widths and binary scales, neuron
    kind, reset, leak, K, P, adaptive tables' fraction bits, state widths, thresholds, T, encoding,
    lanes, image count); a numpy generator seeded by a drawn ``seed`` fills the arrays (weights,
    biases, tables, images), so an example stays small and replays exactly from its seed. State widths
    go down to 2 bits, so some layers saturate (see :func:`spikeforge.bounds.analyse`).

    Parameters
    ----------
    neuron_kinds : sequence of str
        Neuron kinds to draw from (e.g. ``spikeforge.hdl.network.SUPPORTED_NEURONS``); kinds this
        function does not know are ignored, so a newly supported kind needs a recipe here.
        ``"bistable"`` makes a whole network bistable with one phase P (the NetSpec's schedule).
    encodings : sequence of str
        Input encodings to draw from.
    max_layers, max_inputs, max_neurons, max_outputs : int
        Layer count 1..``max_layers``; input size, hidden and output layer sizes up to these.
    max_timesteps : int
        Largest T of non-bistable networks (bistable ones take T around ``(L + 1) · P``).
    max_images : int
        Images per network, 1..``max_images``.
    image_layers : bool
        Off (default): linear networks as above, the very draws the pinned random sets were made
        of. On: small image networks instead (:func:`_image_networks`): a conv2d stem, maybe a
        pool, maybe a residual block (one or two shape-keeping convs and a residual layer adding
        the stem's or the pool's output, delayed 0..3 steps), a gap or flatten head and a linear
        readout; ``max_inputs`` and ``max_layers`` do not apply.

    Returns
    -------
    hypothesis.strategies.SearchStrategy
        Of :class:`RandomNetwork`; every ``spec`` passes :meth:`NetSpec.validate`.
    """
    from hypothesis import strategies as st  # a test dependency: imported only when asked for

    known = ("if", "lif", "mtlif", "bistable", "adaptive")
    kinds = [kind for kind in neuron_kinds if kind in known]
    layered = [kind for kind in kinds if kind != "bistable"]
    if not kinds:
        raise ValueError(f"network_strategy: no known neuron kind in {tuple(neuron_kinds)}; "
                         f"expected some of {known}")

    if image_layers:
        return _image_networks(st, kinds, layered, encodings, max_neurons, max_outputs,
                               max_timesteps, max_images)

    @st.composite
    def networks(draw):
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        n_layers = draw(st.integers(1, max_layers))
        # One network in len(kinds) is bistable (all its layers); the simplest draw is not.
        bistable = "bistable" in kinds and (not layered or draw(st.integers(0, len(kinds) - 1)) == 1)
        encoding = draw(st.sampled_from(list(encodings)))
        if bistable:
            phase = draw(st.integers(1, 3))
            # T near one pass through the layers, (L + 1)·P; shorter ones test an empty readout.
            pass_steps = (n_layers + 1) * phase
            timesteps = draw(st.integers(max(1, pass_steps - phase), pass_steps + 2 * phase))
        else:
            phase, timesteps = 0, draw(st.integers(1, max_timesteps))
        in_bits = draw(st.integers(1, 8))
        in_max = draw(st.one_of(st.just((1 << in_bits) - 1), st.integers(1, (1 << in_bits) - 1)))
        size = draw(st.integers(1, max_inputs))
        inp = InputSpec(size, encoding, in_bits, in_max,
                        rate_seed=draw(st.integers(1, 0xFFFF)) if encoding == "rate" else 0xACE1)

        layers, lanes = [], []
        n_in, value_max = size, inp.first_layer_max
        for index in range(n_layers):
            last = index == n_layers - 1
            n_out = draw(st.integers(1, max_outputs if last else max_neurons))
            bits = draw(st.integers(1, 8))
            if bits == 1:
                scale = 1 << draw(st.integers(0, 4))  # a binary scale, as QAT exports it
                weights = rng.choice([-1, 1], (n_out, n_in))
            else:
                scale, half = 1, 1 << (bits - 1)
                weights = rng.integers(-half, half, (n_out, n_in))
            kind = "bistable" if bistable else draw(st.sampled_from(layered))
            neuron = draw(_neuron_strategy(st, kind, timesteps, phase))
            # A threshold between 1/16 and 1x the current of half the inputs at their largest (on
            # its positive weights; times the mean gain of adaptive neurons) keeps most networks
            # spiking, where thresholds uniform up to the worst case would silence most of them.
            typical = np.clip(weights * scale, 0, None).sum(axis=1).mean() * value_max / 2
            if kind == "adaptive":
                typical *= np.mean(neuron.gain_table) / (1 << neuron.frac_bits)
            state_max = (1 << (neuron.state_bits - 1)) - 1
            threshold = int(min(state_max, max(1, typical * draw(st.integers(1, 16)) // 16)))
            bias_max = draw(st.integers(0, max(0, min(state_max, threshold))))
            bias = rng.integers(-bias_max, bias_max + 1, n_out)
            neuron = replace(neuron, threshold=threshold)
            layers.append(LayerSpec(name=f"fc{index + 1}", kind="linear", weights=weights,
                                    weight_bits=bits, scale=scale, bias=bias, neuron=neuron))
            lanes.append(draw(st.integers(1, n_out)))
            n_in, value_max = n_out, neuron.spike_max
        spec = NetSpec(inp, tuple(layers), timesteps, name="random",
                       metadata={"seed": seed}).validate()

        n_images = draw(st.integers(1, max_images))
        images = rng.integers(0, in_max + 1, (n_images, size))
        images[rng.random((n_images, size)) < rng.uniform(0, 0.7)] = 0  # sparse: fewer events
        if n_images > 1 and draw(st.booleans()):
            images[0] = 0  # an all-zero image: only end-of-step markers
        return RandomNetwork(spec, tuple(lanes), images.astype(np.int64), seed)

    return networks()


def _image_networks(st, kinds, layered, encodings, max_neurons, max_outputs, max_timesteps,
                    max_images):
    """The ``image_layers`` strategy of :func:`network_strategy` (arguments as there)."""

    @st.composite
    def networks(draw):
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        residual = draw(st.booleans())
        branch = draw(st.integers(1, 2)) if residual else 0
        pool = draw(st.sampled_from(["none", "sumpool", "avgpool", "orpool"]))
        head = draw(st.sampled_from(["gap", "flatten"]))
        n_neuron_layers = 2 + branch + (1 if residual else 0)  # stem, branch, residual, readout
        bistable = "bistable" in kinds and (not layered or draw(st.integers(0, len(kinds) - 1)) == 1)
        encoding = draw(st.sampled_from(list(encodings)))
        if bistable:
            phase = draw(st.integers(1, 2))
            pass_steps = (n_neuron_layers + 1) * phase
            timesteps = draw(st.integers(max(1, pass_steps - phase), pass_steps + phase))
        else:
            phase, timesteps = 0, draw(st.integers(1, max_timesteps))
        in_bits = draw(st.integers(1, 6))
        in_max = draw(st.one_of(st.just((1 << in_bits) - 1), st.integers(1, (1 << in_bits) - 1)))
        shape = (draw(st.integers(1, 2)), draw(st.integers(3, 6)), draw(st.integers(3, 6)))
        size = int(np.prod(shape))
        inp = InputSpec(size, encoding, in_bits, in_max, shape=shape,
                        rate_seed=draw(st.integers(1, 0xFFFF)) if encoding == "rate" else 0xACE1)
        layers, lanes = [], []
        state = {"shape": shape, "max": inp.first_layer_max}

        def neurons(count_current):
            """A neuron for a layer whose typical current (half its inputs at their largest) is
            ``count_current``, with a threshold from 1/16 to 1x of it (as the linear draws)."""
            kind = "bistable" if bistable else draw(st.sampled_from(layered))
            neuron = draw(_neuron_strategy(st, kind, timesteps, phase))
            typical = count_current
            if kind == "adaptive":
                typical *= np.mean(neuron.gain_table) / (1 << neuron.frac_bits)
            state_max = (1 << (neuron.state_bits - 1)) - 1
            threshold = int(min(state_max, max(1, typical * draw(st.integers(1, 16)) // 16)))
            return replace(neuron, threshold=threshold), state_max

        def conv(name, c_out, k, stride, padding):
            c_in = state["shape"][0]
            bits = draw(st.integers(1, 4))
            if bits == 1:
                scale, weights = 1 << draw(st.integers(0, 2)), rng.choice([-1, 1], (c_out, c_in, k, k))
            else:
                scale, half = 1, 1 << (bits - 1)
                weights = rng.integers(-half, half, (c_out, c_in, k, k))
            typical = (np.clip(weights * scale, 0, None).reshape(c_out, -1).sum(axis=1).mean()
                       * state["max"] / 2)
            neuron, state_max = neurons(typical)
            bias_max = draw(st.integers(0, max(0, min(state_max, neuron.threshold))))
            layers.append(LayerSpec(name, "conv2d", weights, bits, rng.integers(-bias_max, bias_max + 1, c_out),
                                    neuron, scale=scale, stride=stride, padding=padding))
            lanes.append(draw(st.integers(1, c_out)))
            _, h, w = state["shape"]
            state["shape"] = (c_out, (h + 2 * padding - k) // stride + 1,
                              (w + 2 * padding - k) // stride + 1)
            state["max"] = neuron.spike_max

        k = draw(st.sampled_from([1, 2, 3]))
        conv("c1", draw(st.integers(1, 4)), k, draw(st.integers(1, 2)),
             draw(st.integers(0, k // 2)))
        source = "c1"
        if pool != "none" and min(state["shape"][1:]) >= 2:
            shift = draw(st.integers(0, 2)) if pool == "avgpool" else 0
            layers.append(LayerSpec("p1", pool, None, 0, None, NONE_NEURON, kernel=2,
                                    stride=draw(st.integers(1, 2)), shift=shift))
            lanes.append(1)
            c, h, w = state["shape"]
            stride = layers[-1].stride
            state["shape"] = (c, (h - 2) // stride + 1, (w - 2) // stride + 1)
            state["max"] = state["max"] if pool == "orpool" else (4 * state["max"]) >> shift
            source = "p1"
        if residual:
            source_shape, source_max = state["shape"], state["max"]
            for index in range(branch):
                k = draw(st.sampled_from([1, 3]))
                conv(f"b{index + 1}", source_shape[0], k, 1, k // 2)  # keeps the shape
            n = int(np.prod(source_shape))
            neuron, _ = neurons((state["max"] + source_max) / 2)
            layers.append(LayerSpec("res", "residual", None, 0, None, neuron, source=source,
                                    delay=draw(st.integers(0, min(3, timesteps)))))
            lanes.append(draw(st.integers(1, min(n, 16))))
            state["max"] = neuron.spike_max
        c, h, w = state["shape"]
        if head == "gap":
            shift = draw(st.integers(0, 2))
            layers.append(LayerSpec("gap", "gap", None, 0, None, NONE_NEURON, shift=shift))
            n_in, value_max = c, max(1, (h * w * state["max"]) >> shift)
        else:
            layers.append(LayerSpec("flat", "flatten", None, 0, None, NONE_NEURON))
            n_in, value_max = c * h * w, state["max"]
        lanes.append(1)
        n_out = draw(st.integers(1, max_outputs))
        bits = draw(st.integers(2, 4))
        half = 1 << (bits - 1)
        weights = rng.integers(-half, half, (n_out, n_in))
        neuron, state_max = neurons(np.clip(weights, 0, None).sum(axis=1).mean() * value_max / 2)
        bias_max = draw(st.integers(0, max(0, min(state_max, neuron.threshold))))
        layers.append(LayerSpec("out", "linear", weights, bits,
                                rng.integers(-bias_max, bias_max + 1, n_out), neuron))
        lanes.append(draw(st.integers(1, n_out)))
        spec = NetSpec(inp, tuple(layers), timesteps, name="random-image",
                       metadata={"seed": seed}).validate()
        n_images = draw(st.integers(1, max_images))
        images = rng.integers(0, in_max + 1, (n_images, size))
        images[rng.random((n_images, size)) < rng.uniform(0, 0.7)] = 0
        return RandomNetwork(spec, tuple(lanes), images.astype(np.int64), seed)

    return networks()


def _neuron_strategy(st, kind: str, timesteps: int, phase: int):
    """The neuron of one layer, threshold 1 (the caller sets it once the width is known)."""

    @st.composite
    def neuron(draw):
        state_bits = draw(st.integers(2, 20))  # 2..20 bits: narrow ones saturate
        reset = draw(st.sampled_from(["subtract", "zero"]))
        fields = {}
        if kind in ("lif", "mtlif"):
            leak = draw(st.sampled_from(["none", "shift", "factor"]))
            fields["leak"] = leak
            if leak == "shift":
                fields["leak_shift"] = draw(st.integers(1, state_bits - 1))
            elif leak == "factor":
                frac = draw(st.integers(1, 8))
                fields.update(frac_bits=frac, leak_factor=draw(st.integers(0, 1 << frac)))
        if kind == "mtlif":
            fields["levels"] = draw(st.integers(1, 7))
        if kind == "bistable":
            fields["phase"] = phase
        if kind == "adaptive":
            frac = draw(st.integers(0, 8))
            seed = draw(st.integers(0, 2**32 - 1))
            rng = np.random.default_rng(seed)
            # λ_t in [0, 1.0]; γ_t mostly near 1.0, up to the NetSpec's limit of 256.
            gain_max = 1 << (frac + draw(st.sampled_from([1, 2, 8])))
            fields.update(frac_bits=frac,
                          decay_table=tuple(int(v) for v in rng.integers(0, (1 << frac) + 1, timesteps)),
                          gain_table=tuple(int(v) for v in rng.integers(0, gain_max + 1, timesteps)))
        return NeuronSpec(kind, 1, reset, state_bits, **fields)

    return neuron()


def draw_networks(strategy, count: int, seed: int, chunk: int = 25) -> list:
    """``count`` distinct examples of a hypothesis strategy, the same ones for the same ``seed``.

    Hypothesis is built to feed a test function, not to hand out lists, and
    ``strategy.example()`` is neither seedable nor meant for non-interactive use. So this runs a
    collecting function under ``@given`` with ``@seed(seed)``, only the generate phase (no shrinking,
    no replay from the example database) and few examples. Each example is a *list* of ``chunk``
    draws: consecutive examples of one strategy are mostly mutations of each other (200 networks
    drawn one per example had only ~90 distinct structures), while the elements of one list are
    independent draws. Hypothesis' first example is its simplest (a list of identical minimal
    networks), so duplicates are dropped; the minimal network stays, once.

    Parameters
    ----------
    strategy : hypothesis.strategies.SearchStrategy
        Of objects with a ``describe()`` line and an ``images`` array, e.g. :func:`network_strategy`.
    count : int
        Number of examples.
    seed : int
        Hypothesis seed; different seeds give different batches.
    chunk : int
        Draws per hypothesis example.

    Returns
    -------
    list
        ``count`` distinct examples, in the order hypothesis generated them.
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    chunk = max(1, min(chunk, count))
    examples, seen = [], set()

    @hypothesis_seed(seed)
    @settings(max_examples=-(-count // chunk) + 3, phases=[Phase.generate], database=None,
              deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(strategy, min_size=chunk, max_size=chunk))
    def collect(batch):
        for example in batch:
            key = (example.describe(), np.asarray(example.images).tobytes())
            if key not in seen:
                seen.add(key)
                examples.append(example)

    with _without_local_constants():
        collect()
    if len(examples) < count:
        raise RuntimeError(f"hypothesis generated {len(examples)} distinct examples of {count} "
                           f"(seed {seed}); draw a smaller count or a larger chunk")
    return examples[:count]


@contextmanager
def _without_local_constants():
    """Hypothesis draws without the constants it collects from the source of loaded modules.

    Hypothesis (6.1xx) mixes into its draws the literals of every *local* module imported so far
    (here: spikeforge and the test modules), so the same seed gave other networks under a full
    pytest session than alone. For a set that is the same in every run, that pool is emptied
    while drawing, and the cache built from it cleared before and after. These are Hypothesis
    internals, which is why its version is pinned (pyproject.toml).
    """
    try:
        from hypothesis.internal.conjecture import providers

        original, cache, empty = (providers._get_local_constants, providers.CONSTANTS_CACHE,
                                  providers.Constants)
    except (ImportError, AttributeError) as exc:  # another Hypothesis: say so, do not draw
        raise RuntimeError("this Hypothesis has no local-constants pool to switch off "
                           f"({exc}); use the version pinned in pyproject.toml") from None
    cache.cache.clear()
    providers._get_local_constants = lambda: empty()
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.cache.clear()


def networks_digest(networks) -> str:
    """A short digest of a drawn set (each network's description and images, in order).

    The random co-simulation runs pin it, so "200 networks, 0 mismatches" always names the same
    200 networks; it changes when the strategy, the supported kinds or hypothesis' version does.
    """
    import hashlib

    digest = hashlib.sha256()
    for network in networks:
        digest.update(network.describe().encode())
        digest.update(np.ascontiguousarray(network.images).tobytes())
    return digest.hexdigest()[:16]
