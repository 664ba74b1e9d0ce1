"""The in-pixel recurrent cells (``CELLS``, chosen by ``model.cell``), and ``InPixelStage``, the base they share
with the whole-clip read-outs of ``clip_readouts.py`` (the camera baselines, chosen by ``model.readout``).

Every stage takes the encoder's maps x (B, T, 1, M, M) and returns what is read off the sensor per
clip, (B, K, M, M): one map o_T for the recurrent cells, several maps for some read-outs.
Each kernel is a binary 5x5 single-channel ``BinaryConv2d`` ('same' zero padding, ``W * v`` below), its
latent real weights quantised in every forward pass. Each class states its equations; h is h_{t-1} and
h_0 = +1 unless said otherwise. The kernels named ``*_i`` read the input x, those named ``*_h`` the state:
the input's convolutions do not depend on the state, so they run for all frames at once before the time
loop, and each step convolves the state with all its kernels in one call. On CPU with exact -1/0/+1 values
(``native_obstacle``) those convolutions run on the native integer kernels, and the PixelRNN cell's whole
loop on one fused kernel; the equations, the noise draws and the rest of each step are the same code on
both paths.

Ties: sums of +-1 products are integers and can be 0, where sign gives 0. The release's own fix for the
PixelRNN gate (sign(v + 1e-3), ``rnn_1_qt``) is used for every binary decision of the paper's cells
(``decide``), so their states stay +-1 and need one bit each.

Release bugs not reproduced (no released checkpoint needs them): the output of ``rnn_1_mul_noise``,
``pixrnn`` and ``pixrnn_binarize_hidden`` used ``Conv_out_i`` on h (here ``Conv_out_h``); ``cgru``'s
update gate used the input kernel on h (here ``ConvGates_z_h``); with +-1 gates the release's update
(1 - z) h + z h~ grows without bound (here the intended selection (1 - z)/2 h + (1 + z)/2 h~).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training_utils.quantization import Quantizer
from training_utils.registry import Registry

from .binary_layers import BinaryConv2d
from .kernels.dispatch import NativeComputable, gate_surrogate, inexact_quantizer
from .kernels.native_ops import binary_conv, pixelrnn_time_loop
from .sensor_noise import SensorNoise
from .tracing import Traceable

CELLS = Registry("cell")

ADC_BITS = 8           # an analogue value read or kept at the sensor's 8-bit ADC precision
TIE_OFFSET = 1e-3      # sign(v + 1e-3): an integer sum of 0 decides +1 (the release's rnn_1_qt)


class InPixelStage(NativeComputable, Traceable, nn.Module):
    """Base of every stage: bit accounting, binary kernels and the (B, T, 1, M, M) -> (B, K, M, M) contract."""
    part = "cell"                  # the model's attribute, config section and checkpoint prefix holding it
    conv_names: tuple[str, ...] = ()  # its binary convolutions
    state_bits: float = 0          # memory per pixel kept between frames
    readout_value_bits: float | None = ADC_BITS  # bits per read-out value; None: the encoder's output bits

    def memory_bits(self, input_bits: float) -> float:
        return float(self.state_bits)

    def readout_bits(self, input_bits: float) -> float:
        return float(input_bits if self.readout_value_bits is None else self.readout_value_bits)

    def readout_maps(self, steps: int) -> int:
        """Maps read off the sensor per clip of ``steps`` frames."""
        return 1

    def readout_divisor(self, maps: int) -> int:
        """The decoder's per-map logits are summed and divided by this."""
        return 1

    def add_kernels(self, weight_quantizer: Quantizer, kernel_size: int) -> None:
        """One binary kernel_size x kernel_size single-channel convolution per name in ``conv_names``."""
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd integer >= 1, got {kernel_size}")
        self.kernel_size = kernel_size
        for name in self.conv_names:
            self.add_module(name, BinaryConv2d(1, 1, kernel_size, weight_quantizer))

    def native_obstacle(self, input_exact: bool) -> str | None:
        if not self.conv_names:
            return None  # nothing to convolve: the stage only selects and combines maps
        if not input_exact:
            return "its input maps (the encoder's output) are not exactly -1/0/+1"
        return inexact_quantizer({"rnn_weights": getattr(self, self.conv_names[0]).weight_quantizer})

    def convs(self, names: tuple[str, ...], x: torch.Tensor, record: bool = True) -> tuple[torch.Tensor, ...]:
        """W_name * x for each name, in one call: x (N, 1, M, M) -> one (N, 1, M, M) map per name, each
        recorded in the trace under its name."""
        weight = torch.cat([getattr(self, name).quantized_weight() for name in names])
        if self.native_now(x):
            maps = binary_conv(x, weight)
        else:
            maps = F.conv2d(x, weight, padding=weight.shape[-1] // 2).split(1, dim=1)
        if record:
            for name, y in zip(names, maps):
                self.record(name, y)
        return maps

    def conv(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """W_name * x, recorded in the trace under ``name``."""
        return self.convs((name,), x)[0]


class ConvRecurrentCell(InPixelStage):
    """A recurrent cell: ``conv_names`` names its binary 5x5 convolutions; ``step`` is one frame's update."""
    state_bits = 1

    def __init__(self, *, weight_quantizer: Quantizer, gate_quantizer: Quantizer, hidden_quantizer: Quantizer,
                 kernel_size: int = 5):
        super().__init__()
        self.add_kernels(weight_quantizer, kernel_size)
        self.gate_quantizer = gate_quantizer
        self.hidden_quantizer = hidden_quantizer

    @property
    def input_convs(self) -> tuple[str, ...]:
        return tuple(name for name in self.conv_names if name.endswith("_i"))

    def native_obstacle(self, input_exact: bool) -> str | None:
        # h (and r h, f h) are convolved too: the gate's and the hidden state's values must be exact
        return super().native_obstacle(input_exact) or inexact_quantizer(
            {"gate": self.gate_quantizer, "hidden": self.hidden_quantizer})

    @staticmethod
    def decide(quantizer: Quantizer, total: torch.Tensor) -> torch.Tensor:
        """+-1 decision on an integer sum (0 decides +1)."""
        return quantizer(total + TIE_OFFSET)

    @staticmethod
    def select(gate: torch.Tensor, h: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        """The +-1 gate picks the candidate (+1) or keeps h (-1): (1 - g)/2 h + (1 + g)/2 h~."""
        return 0.5 * (1 - gate) * h + 0.5 * (1 + gate) * candidate

    def initial_state(self, like: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"h": torch.ones_like(like)}

    def step(self, inputs: dict[str, torch.Tensor], state: dict) -> tuple[dict, torch.Tensor]:
        """One frame: ``inputs`` holds this frame's input sums (W_name * x_t for each of ``input_convs``) and
        whatever else ``run_steps`` was given per step."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, 1, M, M) -> o_T (B, 1, M, M)."""
        return self.run_steps(x, {})

    def run_steps(self, x: torch.Tensor, per_step: dict[str, torch.Tensor]) -> torch.Tensor:
        """The time loop; ``per_step``: more (B, T, ...) values the steps read, e.g. sensor noise drawn ahead."""
        batch, steps = x.shape[:2]
        names = self.input_convs
        sums = self.convs(names, x.flatten(0, 1), record=False) if names else ()
        per_step = {**{name: s.reshape(batch, steps, *s.shape[1:]) for name, s in zip(names, sums)}, **per_step}
        # unbind, not value[:, t]: one backward op, where T selects would each fill a whole (B, T, ...) gradient
        frames = {name: value.unbind(1) for name, value in per_step.items()}
        state = self.initial_state(x[:, 0])
        output = None
        for t in range(steps):
            inputs = {name: value[t] for name, value in frames.items()}
            for name in names:
                self.record(name, inputs[name])
            self.record("hidden_prev", state["h"])
            state, output = self.step(inputs, state)
            self.record("hidden", state["h"])
            self.record("output", output)
        return output


@CELLS.register("pixelrnn")
class PixelRNNCell(ConvRecurrentCell):
    """The paper's PixelRNN (release ``rnn_1_qt``; noise-trained: ``rnn_1_mul_noise_fixed``):
    g = Q_g(Wfi * x + Wfh * h [+ noise] - theta); h_t = g h; o_t = Woi * x + Woh * h (h of the step's start,
    as the sensor program reads it). Plain: theta = -1e-3; ``learned_threshold``: theta = ``rnn_threshold``.

    The gate sum is an even integer. ``threshold_init`` -1 sits midway between the levels -2 and 0, where the
    surrogate slope is 0.14 for both. At -1e-3 (the plain gate) a zero sum gets the peak slope 2, and the
    gradient through h_t = g h and Wfh * h grows 4-10x per step backwards, 10^7-10^10 over 16 frames, so
    the gate kernels learn from the first frames' surrogate noise (docs/training_stability.md, section 1); from
    -1 it grows at most ~10x over the whole clip."""
    conv_names = ("ConvGates_i", "ConvGates_h", "Conv_out_i", "Conv_out_h")

    def __init__(self, *, weight_quantizer: Quantizer, gate_quantizer: Quantizer, hidden_quantizer: Quantizer,
                 kernel_size: int = 5, learned_threshold: bool = False, threshold_init: float = -1.0,
                 gate_noise_std: float = 0.0, output_noise_std: float = 0.0, out_weight_init_scale: float = 1.0,
                 hidden_weight_init_scale: float = 1.0):
        super().__init__(weight_quantizer=weight_quantizer, gate_quantizer=gate_quantizer,
                         hidden_quantizer=hidden_quantizer, kernel_size=kernel_size)
        with torch.no_grad():  # the release's init scales (no effect on the signs)
            for name, scale in (("Conv_out_i", out_weight_init_scale), ("ConvGates_h", hidden_weight_init_scale),
                                ("Conv_out_h", out_weight_init_scale * hidden_weight_init_scale)):
                getattr(self, name).weight.mul_(scale)
        if learned_threshold:
            self.rnn_threshold = nn.Parameter(torch.full((1,), float(threshold_init)))
        self.gate_noise = SensorNoise(gate_noise_std)
        self.output_noise = SensorNoise(output_noise_std)

    def thresholds(self, reference: torch.Tensor) -> list[torch.Tensor]:
        """[theta] of the gate, as a tensor like ``reference``."""
        if hasattr(self, "rnn_threshold"):
            return [self.rnn_threshold[0]]
        return [reference.new_tensor(-TIE_OFFSET)]

    def step_noise(self, like: torch.Tensor, steps: int) -> dict[str, torch.Tensor]:
        """The sensor noise of every step (B, T, 1, M, M), drawn before the loop in one order (per step: the
        output's, then the gate's) that both paths read, so a seed gives the same run on either."""
        drawn = {"output_noise": [], "gate_noise": []}
        for _ in range(steps):
            for name in drawn:
                if getattr(self, name).active():
                    drawn[name].append(getattr(self, name).sample(like))
        return {name: torch.stack(values, 1) for name, values in drawn.items() if values}

    def forward(self, x):
        noise = self.step_noise(x[:, 0], x.shape[1])
        if self.native_now(x) and gate_surrogate(self.gate_quantizer) is not None:
            return self.fused_time_loop(x, noise)
        return self.run_steps(x, noise)

    def fused_time_loop(self, x, noise):
        """The whole loop in one native kernel, forward and backward through time; only o_T is computed."""
        weight_i = torch.cat([self.ConvGates_i.quantized_weight(), self.Conv_out_i.quantized_weight()])[:, 0]
        weight_h = torch.cat([self.ConvGates_h.quantized_weight(), self.Conv_out_h.quantized_weight()])[:, 0]
        gate_noise = noise["gate_noise"][:, :, 0] if "gate_noise" in noise else None
        output = pixelrnn_time_loop(x[:, :, 0], weight_i, weight_h, self.thresholds(x)[0], gate_noise,
                                    *gate_surrogate(self.gate_quantizer))[:, None]
        return output + noise["output_noise"][:, -1] if "output_noise" in noise else output

    def step(self, inputs, state):
        h = state["h"]
        out_h, gate_h = self.convs(("Conv_out_h", "ConvGates_h"), h)
        output = inputs["Conv_out_i"] + out_h
        if "output_noise" in inputs:
            output = output + inputs["output_noise"]
        total = inputs["ConvGates_i"] + gate_h
        if "gate_noise" in inputs:
            total = total + inputs["gate_noise"]
        gate = self.gate_quantizer(total - self.thresholds(total)[0])
        self.record("gate", gate)
        # A product of +-1 values is +-1 already: no hidden quantiser, so gradients flow through time.
        return {"h": gate * h}, output


@CELLS.register("pixelrnn_interpolation")
class PixelRNNInterpolationCell(ConvRecurrentCell):
    """The supplement's interpolation PixelRNN (release ``pixrnn_binarize_hidden``, intended form):
    f = Q_g(Wfi * x + Wfh * h - theta_f); h~ = Q_g(Whi * x + Whh * h - theta_h);
    h_t = (1 - f)/2 h + (1 + f)/2 h~; o_t = Woi * x + Woh * h. Both decisions break a tie (a sum equal to
    its threshold, possible near the borders, where fewer taps cover the map) to +1, so h stays +-1: a
    plain sign would give f = 0 there and h = h/2 + h~/2, a value that is not one bit."""
    conv_names = ("ConvGates_f_i", "ConvGates_f_h", "ConvGates_h_i", "ConvGates_h_h", "Conv_out_i", "Conv_out_h")

    def __init__(self, *, weight_quantizer: Quantizer, gate_quantizer: Quantizer, hidden_quantizer: Quantizer,
                 kernel_size: int = 5, threshold_init: float = 1.0):
        super().__init__(weight_quantizer=weight_quantizer, gate_quantizer=gate_quantizer,
                         hidden_quantizer=hidden_quantizer, kernel_size=kernel_size)
        self.rnn_f_threshold = nn.Parameter(torch.full((1,), float(threshold_init)))
        self.rnn_h_threshold = nn.Parameter(torch.full((1,), float(threshold_init)))

    def step(self, inputs, state):
        h = state["h"]
        out_h, f_h, h_h = self.convs(("Conv_out_h", "ConvGates_f_h", "ConvGates_h_h"), h)
        output = inputs["Conv_out_i"] + out_h
        f = self.decide(self.gate_quantizer, inputs["ConvGates_f_i"] + f_h - self.rnn_f_threshold)
        candidate = self.decide(self.gate_quantizer, inputs["ConvGates_h_i"] + h_h - self.rnn_h_threshold)
        self.record("gate", f)
        return {"h": self.select(f, h, candidate)}, output


@CELLS.register("simple_rnn")
class SimpleRNNCell(ConvRecurrentCell):
    """Simple conv RNN, state read-out (release ``srnn``): s = Wi * x + Wh * h; h_t = Q_h(s); o_t = s."""
    conv_names = ("Conv_i", "Conv_h")

    def step(self, inputs, state):
        total = inputs["Conv_i"] + self.conv("Conv_h", state["h"])
        return {"h": self.decide(self.hidden_quantizer, total)}, total


@CELLS.register("simple_rnn_out")
class SimpleRNNOutputCell(ConvRecurrentCell):
    """Simple conv RNN with an output convolution (release ``srnno``): s = Wi * x + Wh * h; h_t = Q_h(s);
    o_t = Woi * x + Woh * h."""
    conv_names = ("Conv_i", "Conv_h", "Conv_out_i", "Conv_out_h")

    def step(self, inputs, state):
        out_h, state_h = self.convs(("Conv_out_h", "Conv_h"), state["h"])
        output = inputs["Conv_out_i"] + out_h
        total = inputs["Conv_i"] + state_h
        return {"h": self.decide(self.hidden_quantizer, total)}, output


@CELLS.register("conv_gru")
class ConvGRUCell(ConvRecurrentCell):
    """Conv GRU with +-1 gates (release ``cgru``, intended form), state read-out:
    r = Q_g(Wri * x + Wrh * h); z = Q_g(Wzi * x + Wzh * h); h~ = Q_h(Whi * x + Whh * (r h));
    h_t = (1 - z)/2 h + (1 + z)/2 h~; o_t = h_t (one bit per value)."""
    conv_names = ("ConvGates_r_i", "ConvGates_r_h", "ConvGates_z_i", "ConvGates_z_h", "ConvGates_h_i", "ConvGates_h_h")
    readout_value_bits = 1

    def step(self, inputs, state):
        h = state["h"]
        r_h, z_h = self.convs(("ConvGates_r_h", "ConvGates_z_h"), h)
        r = self.decide(self.gate_quantizer, inputs["ConvGates_r_i"] + r_h)
        z = self.decide(self.gate_quantizer, inputs["ConvGates_z_i"] + z_h)
        candidate = self.decide(self.hidden_quantizer, inputs["ConvGates_h_i"] + self.conv("ConvGates_h_h", r * h))
        self.record("gate", z)
        h = self.select(z, h, candidate)
        return {"h": h}, h


@CELLS.register("mgu")
class MinimalGatedUnitCell(ConvRecurrentCell):
    """Minimal gated unit (release ``cmgu``), state read-out: f = Q_g(Wfi * x + Wfh * h);
    h~ = Q_g(Whi * x + Whh * (f h)); h_t = (1 - f)/2 h + (1 + f)/2 h~; o_t = h_t."""
    conv_names = ("ConvGates_f_i", "ConvGates_f_h", "ConvGates_h_i", "ConvGates_h_h")
    readout_value_bits = 1
    candidate_quantizer = "gate_quantizer"

    def forget_gate(self, inputs, h):
        return self.decide(self.gate_quantizer, inputs["ConvGates_f_i"] + self.conv("ConvGates_f_h", h))

    def step(self, inputs, state):
        h = state["h"]
        f = self.forget_gate(inputs, h)
        quantizer = getattr(self, self.candidate_quantizer)
        candidate = self.decide(quantizer, inputs["ConvGates_h_i"] + self.conv("ConvGates_h_h", f * h))
        self.record("gate", f)
        h = self.select(f, h, candidate)
        return {"h": h}, h


@CELLS.register("mgu_v2")
class MinimalGatedUnitV2Cell(MinimalGatedUnitCell):
    """Minimal gated unit, second variant (release ``cmgu_v2``): the gate sees h only, f = Q_g(Wfh * h);
    h~ = Q_h(Whi * x + Whh * (f h)); h_t = (1 - f)/2 h + (1 + f)/2 h~; o_t = h_t."""
    conv_names = ("ConvGates_f_h", "ConvGates_h_i", "ConvGates_h_h")
    candidate_quantizer = "hidden_quantizer"

    def forget_gate(self, inputs, h):
        return self.decide(self.gate_quantizer, self.conv("ConvGates_f_h", h))


@CELLS.register("conv_lstm")
class ConvLSTMCell(ConvRecurrentCell):
    """Conv LSTM with +-1 gates (release ``clstm``), state read-out: h_0 = c_0 = +1;
    i, f, o = Q_g(W.i * x + W.h * h); h~ = Q_h(Whi * x + Whh * h); c_t = f c + i h~; h_t = o Q_g(c_t); o_t = h_t.
    c is an integer with |c_t| <= t + 1, kept in an analogue register (8 bits); h is one bit."""
    conv_names = tuple(f"ConvGates_{g}_{s}" for g in ("i", "f", "o", "h") for s in ("i", "h"))
    state_bits = 1 + ADC_BITS
    readout_value_bits = 1

    def initial_state(self, like):
        return {"h": torch.ones_like(like), "c": torch.ones_like(like)}

    def step(self, inputs, state):
        gates = ("i", "f", "o", "h")
        state_sums = self.convs(tuple(f"ConvGates_{g}_h" for g in gates), state["h"])
        sums = {g: inputs[f"ConvGates_{g}_i"] + s for g, s in zip(gates, state_sums)}
        i, f, o = (self.decide(self.gate_quantizer, sums[g]) for g in ("i", "f", "o"))
        candidate = self.decide(self.hidden_quantizer, sums["h"])
        c = f * state["c"] + i * candidate
        self.record("gate", f)
        h = o * self.decide(self.gate_quantizer, c)
        return {"h": h, "c": c}, self.output(h, sums)

    def output(self, h, sums):
        return h


@CELLS.register("conv_lstm_out")
class ConvLSTMOutputCell(ConvLSTMCell):
    """Conv LSTM read out through its output-gate convolution (release ``clstmo``): as ``conv_lstm``, but
    o_t = Woi * x + Woh * h_{t-1} (the output gate's sum, an analogue map)."""
    readout_value_bits = ADC_BITS

    def output(self, h, sums):
        return sums["o"]
