"""In-pixel recurrent cells on the encoder's mosaic (hidden size 1, binary 5x5 kernels, 'same' padding).

Every cell has, per gate, a binary convolution of the input x_t (``<gate>_i``) and one of the
previous hidden state h_{t-1} (``<gate>_h``), and reads out o_t = Woi * x_t + Woh * h_{t-1}
(``Conv_out_i``, ``Conv_out_h``; h from the *start* of the step, as the paper's sensor program does).
The cells differ only in how the gate sums update the state (``update``). The input-side
convolutions of all frames run as one batched convolution; the weights are quantised once per
sequence. The PixelRNN gate keeps the release's names (``ConvGates_*``, ``rnn_threshold``) so its
checkpoints load strictly.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training_utils.quantization import Quantizer

from .binary_layers import BinaryConv2d
from .registry import Registry
from .sensor_noise import SensorNoise
from .tracing import Traceable

CELLS = Registry("cell")

# The plain PixelRNN gate is sign(f + 1e-3): f is an even integer, so f = 0 opens the gate.
PLAIN_GATE_OFFSET = 1e-3


class ConvRecurrentCell(Traceable, nn.Module):
    gates: tuple[str, ...] = ()       # gates with a state update role; each has <gate>_i and <gate>_h
    state_bits: float = 1             # on-sensor memory per pixel kept between frames
    output_gate = "Conv_out"

    def __init__(self, *, weight_quantizer: Quantizer, gate_quantizer: Quantizer, hidden_quantizer: Quantizer,
                 kernel_size: int = 5, learned_threshold: bool = False, gate_noise_std: float = 0.0,
                 output_noise_std: float = 0.0, out_weight_init_scale: float = 1.0,
                 hidden_weight_init_scale: float = 1.0):
        super().__init__()
        self.kernel_size = kernel_size
        self.gate_quantizer = gate_quantizer
        self.hidden_quantizer = hidden_quantizer
        for gate in self.all_gates:
            scale = out_weight_init_scale if gate == self.output_gate else 1.0
            self.add_module(f"{gate}_i", BinaryConv2d(1, 1, kernel_size, weight_quantizer, scale))
            self.add_module(f"{gate}_h", BinaryConv2d(1, 1, kernel_size, weight_quantizer,
                                                      scale * hidden_weight_init_scale))
        if learned_threshold:
            # Sums are integers; a threshold between integers never ties (sign(0) = 0 is no decision).
            self.rnn_threshold = nn.Parameter(torch.full((len(self.gates),), -0.5))
        self.gate_noise = SensorNoise(gate_noise_std)
        self.output_noise = SensorNoise(output_noise_std)

    @property
    def all_gates(self) -> tuple[str, ...]:
        return self.gates + (self.output_gate,)

    def thresholds(self, reference: torch.Tensor) -> list[torch.Tensor]:
        if hasattr(self, "rnn_threshold"):
            return list(self.rnn_threshold.unbind())
        return [reference.new_tensor(-PLAIN_GATE_OFFSET)] * len(self.gates)

    def sign_gate(self, total: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        """+-1 decision on a gate sum, after the sensor's noise."""
        return self.gate_quantizer(self.gate_noise(total) - threshold)

    def open_gate(self, total, threshold):
        """{0, 1} decision (GRU/LSTM-style gates) from the same +-1 comparator."""
        return (self.sign_gate(total, threshold) + 1) / 2

    def stacked_weights(self, side: str) -> torch.Tensor:
        return torch.cat([getattr(self, f"{g}_{side}").quantized_weight() for g in self.all_gates])

    def initial_state(self, like: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"h": torch.ones_like(like)}

    def update(self, sums_i, sums_h, state, thresholds) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, 1, M, M) +-1 mosaics -> o_T: (B, 1, M, M)."""
        batch, steps = x.shape[:2]
        pad = self.kernel_size // 2
        w_i, w_h = self.stacked_weights("i"), self.stacked_weights("h")
        from_input = F.conv2d(x.flatten(0, 1), w_i, padding=pad)
        from_input = from_input.reshape(batch, steps, len(self.all_gates), *x.shape[-2:])
        return self.recur(from_input, w_h)

    def recur(self, from_input: torch.Tensor, w_h: torch.Tensor) -> torch.Tensor:
        """The time loop: from_input (B, T, gates, M, M) input-side sums -> o_T (B, 1, M, M)."""
        steps, pad = from_input.shape[1], self.kernel_size // 2
        state = self.initial_state(from_input[:, 0, :1])
        thresholds = self.thresholds(from_input)
        output = None
        for t in range(steps):
            h = state["h"]
            sums_i = dict(zip(self.all_gates, from_input[:, t].split(1, dim=1)))
            sums_h = dict(zip(self.all_gates, F.conv2d(h, w_h, padding=pad).split(1, dim=1)))
            if t == steps - 1 or self._trace is not None:  # only o_T is read off the sensor
                output = self.output_noise(sums_i[self.output_gate] + sums_h[self.output_gate])
            if self._trace is not None:
                self.record("hidden_prev", h)
                for gate in self.all_gates:
                    self.record(f"{gate}_i", sums_i[gate])
                    self.record(f"{gate}_h", sums_h[gate])
            state = self.update(sums_i, sums_h, state, thresholds)
            self.record("hidden", state["h"])
            self.record("output", output)
        return output


@CELLS.register("pixelrnn")
class PixelRNNCell(ConvRecurrentCell):
    """The paper's cell: f_t = Wfi*x + Wfh*h; g_t = sign(f_t [+ noise] - threshold); h_t = g_t * h_{t-1}.
    Plain: threshold -1e-3. Noise-trained (``learned_threshold`` + noise std): learned ``rnn_threshold``."""
    gates = ("ConvGates",)

    def update(self, sums_i, sums_h, state, thresholds):
        gate = self.sign_gate(sums_i["ConvGates"] + sums_h["ConvGates"], thresholds[0])
        self.record("gate", gate)
        # A product of +-1 values is +-1 already: no hidden quantiser, so gradients flow through time.
        return {"h": gate * state["h"]}


@CELLS.register("conv_rnn")
class ConvRNNCell(ConvRecurrentCell):
    """Simple (Elman) conv RNN with a binary state: h_t = q(Wai*x + Wah*h - threshold)."""
    gates = ("state",)

    def update(self, sums_i, sums_h, state, thresholds):
        h = self.hidden_quantizer(self.gate_noise(sums_i["state"] + sums_h["state"]) - thresholds[0])
        self.record("gate", h)
        return {"h": h}


@CELLS.register("conv_gru")
class ConvGRUCell(ConvRecurrentCell):
    """Conv GRU with {0,1} gates and a +-1 state (reset applied after the state convolution):
    z, r = [W x + U h > thr]; n = q(Wn x + r * (Un h) - thr_n); h = h + z * (n - h)."""
    gates = ("update", "reset", "candidate")

    def update(self, sums_i, sums_h, state, thresholds):
        h = state["h"]
        z = self.open_gate(sums_i["update"] + sums_h["update"], thresholds[0])
        r = self.open_gate(sums_i["reset"] + sums_h["reset"], thresholds[1])
        n = self.hidden_quantizer(sums_i["candidate"] + r * sums_h["candidate"] - thresholds[2])
        self.record("gate", z)
        return {"h": h + z * (n - h)}


@CELLS.register("mgu")
class MinimalGatedUnitCell(ConvRecurrentCell):
    """Minimal gated unit (Zhou et al. 2016): one forget gate f in {0,1};
    n = q(Wn x + f * (Un h) - thr_n); h = h + f * (n - h)."""
    gates = ("forget", "candidate")

    def update(self, sums_i, sums_h, state, thresholds):
        h = state["h"]
        f = self.open_gate(sums_i["forget"] + sums_h["forget"], thresholds[0])
        n = self.hidden_quantizer(sums_i["candidate"] + f * sums_h["candidate"] - thresholds[1])
        self.record("gate", f)
        return {"h": h + f * (n - h)}


@CELLS.register("conv_lstm")
class ConvLSTMCell(ConvRecurrentCell):
    """Conv LSTM with {0,1} gates, a +-1 candidate and an analogue (integer-valued) cell c:
    c_t = f * c + i * g; h_t = o * sign(c_t + 1/2) in {-1, 0, +1}. The cell needs an analogue register
    (8 bits on the sensor's ADC) and h a ternary one."""
    gates = ("input_gate", "forget_gate", "output_gate", "candidate")
    state_bits = 8 + 2

    def initial_state(self, like):
        return {"h": torch.ones_like(like), "c": torch.zeros_like(like)}

    def update(self, sums_i, sums_h, state, thresholds):
        total = {g: sums_i[g] + sums_h[g] for g in self.gates}
        i = self.open_gate(total["input_gate"], thresholds[0])
        f = self.open_gate(total["forget_gate"], thresholds[1])
        o = self.open_gate(total["output_gate"], thresholds[2])
        g = self.hidden_quantizer(total["candidate"] - thresholds[3])
        c = f * state["c"] + i * g
        self.record("gate", f)
        return {"h": o * self.hidden_quantizer(c + 0.5), "c": c}


@CELLS.register("single_frame")
class SingleFrameReadout(ConvRecurrentCell):
    """No recurrence: o = Woi * x of the last frame (the single-frame baseline; no state kept)."""
    gates = ()
    state_bits = 0

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        del self.Conv_out_h  # no hidden state to convolve

    def forward(self, x):
        last = x[:, -1]
        output = self.output_noise(self.Conv_out_i(last))
        self.record("output", output)
        return output
