"""The paper's cells, encoders and whole-clip baselines against small hand-computed examples, and their
on-sensor memory and read-out bits.

Cells run with 1x1 kernels (W * v = w v per pixel) on a 2x2 map for two frames, h_0 = +1:
x_1 = [[1, -1], [-1, 1]], x_2 = [[1, 1], [-1, -1]]. Every expected value below was worked out by hand from
the equation in the cell's docstring (0 decides +1)."""
import pytest
import torch

from model_utils import CELLS, CLIP_READOUTS, ENCODERS, build_model
from model_utils.cells import ConvRecurrentCell
from model_utils.tracing import tracing
from training_utils import bit_accounting
from training_utils.config import ConfigError, resolve
from training_utils.quantization import TanhMx

X1 = [[1.0, -1.0], [-1.0, 1.0]]
X2 = [[1.0, 1.0], [-1.0, -1.0]]


def clip(*frames):
    return torch.tensor(frames).view(1, len(frames), 1, *torch.tensor(frames[0]).shape)


def cell_with_kernels(name, kernel_values, **kwargs):
    q = TanhMx()
    cell = CELLS.get_class(name)(weight_quantizer=q, gate_quantizer=q, hidden_quantizer=q, kernel_size=1, **kwargs)
    assert set(kernel_values) == set(cell.conv_names), cell.conv_names
    with torch.no_grad():
        for kernel, value in kernel_values.items():
            getattr(cell, kernel).weight.fill_(value)
    return cell


def run(cell, frames):
    with torch.no_grad(), tracing(cell) as trace:
        readout = cell(clip(*frames))
    return readout[0, 0].tolist(), [h[0, 0].tolist() for h in trace.get("hidden", [])]


# (cell, kernels, extra arguments, h_1, h_2, read-out o_2)
HAND_COMPUTED = [
    # g = sign(x + (-1) h); h_t = g h; o = x + h_{t-1}
    ("pixelrnn", {"ConvGates_i": 1, "ConvGates_h": -1, "Conv_out_i": 1, "Conv_out_h": 1}, {},
     [[1, -1], [-1, 1]], [[1, -1], [-1, -1]], [[2, 0], [-2, 0]]),
    # f = sign(x + h - 1); h~ = sign(-x + h - 1); h_t = h~ where f = +1, else h; o = x - h_{t-1}
    ("pixelrnn_interpolation", {"ConvGates_f_i": 1, "ConvGates_f_h": 1, "ConvGates_h_i": -1, "ConvGates_h_h": 1,
                                "Conv_out_i": 1, "Conv_out_h": -1}, {"threshold_init": 1.0},
     [[-1, 1], [1, -1]], [[-1, -1], [1, -1]], [[2, 0], [-2, 0]]),
    # s = x - h; h_t = sign(s); o = s
    ("simple_rnn", {"Conv_i": 1, "Conv_h": -1}, {},
     [[1, -1], [-1, 1]], [[1, 1], [1, -1]], [[0, 2], [0, -2]]),
    # as simple_rnn; o = x + h_{t-1}
    ("simple_rnn_out", {"Conv_i": 1, "Conv_h": -1, "Conv_out_i": 1, "Conv_out_h": 1}, {},
     [[1, -1], [-1, 1]], [[1, 1], [1, -1]], [[2, 0], [-2, 0]]),
    # r = sign(x + h); z = sign(-x - h); h~ = sign(x - r h); h_t = h~ where z = +1, else h; o = h_t
    ("conv_gru", {"ConvGates_r_i": 1, "ConvGates_r_h": 1, "ConvGates_z_i": -1, "ConvGates_z_h": -1,
                  "ConvGates_h_i": 1, "ConvGates_h_h": -1}, {},
     [[1, -1], [-1, 1]], [[1, 1], [-1, -1]], [[1, 1], [-1, -1]]),
    # f = sign(x - h); h~ = sign(-x - f h); h_t = h~ where f = +1, else h; o = h_t
    ("mgu", {"ConvGates_f_i": 1, "ConvGates_f_h": -1, "ConvGates_h_i": -1, "ConvGates_h_h": -1}, {},
     [[-1, 1], [1, -1]], [[1, -1], [1, 1]], [[1, -1], [1, 1]]),
    # f = sign(h); h~ = sign(-x - f h); h_t = h~ where f = +1, else h; o = h_t
    ("mgu_v2", {"ConvGates_f_h": 1, "ConvGates_h_i": -1, "ConvGates_h_h": -1}, {},
     [[-1, 1], [1, -1]], [[-1, -1], [1, -1]], [[-1, -1], [1, -1]]),
    # i = sign(x + h); f = sign(-x + h); o = sign(x - h); h~ = sign(x - h); c_0 = 1, c_t = f c + i h~;
    # h_t = o sign(c_t); c_1 = [[2, 0], [0, 2]], c_2 = [[3, 1], [-1, 1]]; o = h_t
    ("conv_lstm", {"ConvGates_i_i": 1, "ConvGates_i_h": 1, "ConvGates_f_i": -1, "ConvGates_f_h": 1,
                   "ConvGates_o_i": 1, "ConvGates_o_h": -1, "ConvGates_h_i": 1, "ConvGates_h_h": -1}, {},
     [[1, -1], [-1, 1]], [[1, 1], [-1, -1]], [[1, 1], [-1, -1]]),
    # as conv_lstm; o = the output gate's sum x - h_{t-1}
    ("conv_lstm_out", {"ConvGates_i_i": 1, "ConvGates_i_h": 1, "ConvGates_f_i": -1, "ConvGates_f_h": 1,
                       "ConvGates_o_i": 1, "ConvGates_o_h": -1, "ConvGates_h_i": 1, "ConvGates_h_h": -1}, {},
     [[1, -1], [-1, 1]], [[1, 1], [-1, -1]], [[0, 2], [0, -2]]),
]


@pytest.mark.parametrize("name, kernels, kwargs, h1, h2, readout", HAND_COMPUTED, ids=[c[0] for c in HAND_COMPUTED])
def test_cell_equations_on_a_hand_computed_example(name, kernels, kwargs, h1, h2, readout):
    got_readout, hidden = run(cell_with_kernels(name, kernels, **kwargs), [X1, X2])
    assert hidden == [h1, h2]
    assert got_readout == readout


def test_lstm_cell_value_is_the_integer_sum():
    cell = cell_with_kernels("conv_lstm", HAND_COMPUTED[7][1])
    x = clip(X1, X2)
    state = cell.initial_state(x[:, 0])
    for t in range(2):
        inputs = dict(zip(cell.input_convs, cell.convs(cell.input_convs, x[:, t])))
        state, _ = cell.step(inputs, state)
    assert state["c"][0, 0].tolist() == [[3, 1], [-1, 1]]


def test_single_frame_reads_the_last_frame_only():
    stage = CLIP_READOUTS.get_class("single_frame")(weight_quantizer=TanhMx(), kernel_size=1)
    with torch.no_grad():
        stage.Conv_out_i.weight.fill_(-1)
    readout, _ = run(stage, [X1, X2])
    assert readout == [[-1, -1], [1, 1]]


def test_cells_use_their_kernel_size_with_zero_padding():
    """A 3x3 all-ones kernel on a 3x3 all-ones map sums 4 taps at a corner, 9 in the centre."""
    q = TanhMx()
    cell = CELLS.get_class("simple_rnn")(weight_quantizer=q, gate_quantizer=q, hidden_quantizer=q, kernel_size=3)
    with torch.no_grad():
        cell.Conv_i.weight.fill_(1)
        cell.Conv_h.weight.fill_(-1)
        readout = cell(torch.ones(1, 1, 1, 3, 3))  # s = W_i * x + W_h * h_0 = 0 everywhere
        cell.Conv_h.weight.fill_(1)
        doubled = cell(torch.ones(1, 1, 1, 3, 3))
    assert readout.abs().sum() == 0
    assert doubled[0, 0].tolist() == [[8, 12, 8], [12, 18, 12], [8, 12, 8]]


# ----------------------------------------------------------------------------------------------
# Encoders
# ----------------------------------------------------------------------------------------------
def test_paper_two_layer_cnn_convolves_the_mosaic_with_single_channel_kernels():
    q = TanhMx()
    encoder = ENCODERS.get_class("two_layer_cnn")(weight_quantizer=q, output_quantizer=q, channels=4, kernel_size=1,
                                                  pool=2, threshold_init=0.5)
    assert encoder.conv2.weight.shape == (4, 1, 1, 1) and encoder.output_size(8) == 8
    with torch.no_grad():
        encoder.conv1.weight.copy_(torch.tensor([1.0, -1, 1, -1]).view(4, 1, 1, 1))
        encoder.conv2.weight.copy_(torch.tensor([1.0, 1, -1, -1]).view(4, 1, 1, 1))
        frame = torch.ones(8, 8)
        frame[4:] = -1  # top half bright, bottom half dark
        with tracing(encoder) as trace:
            out = encoder(frame.view(1, 1, 1, 8, 8))[0, 0, 0]
    # Layer 1: channels 0, 2 fire on the top half, 1, 3 on the bottom; after pooling and the threshold
    # each is +1 on its half. Mosaic (channel c at block-row c % 2, block-column c // 2), rows 0..7:
    first = [1, 1, -1, -1, -1, -1, 1, 1]
    assert trace["mosaic"][0][0, 0].tolist() == [[v] * 8 for v in first]
    # Layer 2 on that mosaic: channels 0, 1 (+1 kernels) keep its sign, 2, 3 (-1) invert it; pooled
    # pairs of rows (1, 1), (-1, -1), (-1, -1), (1, 1) -> +1, -1, -1, +1 and the inverse.
    rows = [[1] * 4 + [-1] * 4, [-1] * 4 + [1] * 4, [-1] * 4 + [1] * 4, [1] * 4 + [-1] * 4]
    assert out.tolist() == rows + rows


def test_frames_encoder_passes_or_binarizes_the_frames():
    q = TanhMx()
    frames = torch.tensor([0.3, -2.0, 0.0, 5.0]).view(1, 1, 1, 2, 2)
    raw = ENCODERS.get_class("frames")(weight_quantizer=q, output_quantizer=q)
    binary = ENCODERS.get_class("frames")(weight_quantizer=q, output_quantizer=q, binarize=True)
    assert torch.equal(raw(frames), frames) and raw.output_bits == 8
    assert binary(frames).flatten().tolist() == [1, -1, 0, 1] and binary.output_bits == 1


# ----------------------------------------------------------------------------------------------
# Whole-clip baselines: read-out maps and the decoder's average
# ----------------------------------------------------------------------------------------------
FRAMES = [[[0.0, 1.0], [2.0, 3.0]], [[1.0, 1.0], [1.0, 1.0]], [[1.0, 4.0], [0.0, 2.0]]]


@pytest.mark.parametrize("name, maps, divisor", [
    ("all_frames", [FRAMES[1], FRAMES[2]], 3),
    ("frame_differences", [[[1, 0], [-1, -1]], [[0, 1], [-1, 1]]], 3),
    ("last_difference", [[[0, 1], [-1, 1]]], 1),
    ("middle_frame", [FRAMES[1]], 1),
])
def test_baseline_readouts_and_averaged_logits(name, maps, divisor):
    cfg = resolve({"data": {"frame_size": 2, "timesteps": 3},
                   "model": {"encoder": {"type": "frames"}, "readout": {"type": name},
                             "decoder": {"type": "linear", "normalize": False}}})
    model = build_model(cfg, 2)
    assert not hasattr(model, "fin_conv")  # the release's camera decoders have no read-out normalisation
    with torch.no_grad():
        model.fc.weight.copy_(torch.tensor([[1.0, 1, 1, 1], [1, 0, 0, 0]]))
        model.fc.bias.copy_(torch.tensor([0.5, -1.0]))
        readout = model.encode(clip(*FRAMES))
        logits = model(clip(*FRAMES))[0]
    assert readout[0].tolist() == maps
    # fc summed over the maps (bias once per map), divided by T for the per-frame read-outs
    want = [(sum(sum(map(sum, m)) for m in maps) + 0.5 * len(maps)) / divisor,
            (sum(m[0][0] for m in maps) - 1.0 * len(maps)) / divisor]
    assert logits.tolist() == pytest.approx(want)


# ----------------------------------------------------------------------------------------------
# Memory and read-out bits (64x64 frames, T = 16)
# ----------------------------------------------------------------------------------------------
BITS = [  # (encoder, cell, frame size, memory bits per pixel, read-out bits per clip)
    ({"type": "binary_cnn"}, "pixelrnn", 64, 1, 4096 * 8),
    ({"type": "binary_cnn"}, "pixelrnn_interpolation", 64, 1, 4096 * 8),
    ({"type": "binary_cnn"}, "simple_rnn", 64, 1, 4096 * 8),
    ({"type": "binary_cnn"}, "simple_rnn_out", 64, 1, 4096 * 8),
    ({"type": "binary_cnn"}, "conv_gru", 64, 1, 4096),
    ({"type": "binary_cnn"}, "mgu", 64, 1, 4096),
    ({"type": "binary_cnn"}, "mgu_v2", 64, 1, 4096),
    ({"type": "binary_cnn"}, "conv_lstm", 64, 9, 4096),
    ({"type": "binary_cnn"}, "conv_lstm_out", 64, 9, 4096 * 8),
    ({"type": "two_layer_cnn"}, "pixelrnn", 64, 1, 4096 * 8),
    ({"type": "binary_cnn"}, "single_frame", 64, 0, 4096 * 8),
    ({"type": "binary_cnn"}, "all_frames", 64, 0, 15 * 4096),              # CNN-only: 15 binary mosaics
    ({"type": "frames"}, "all_frames", 64, 0, 15 * 4096 * 8),             # raw camera 64x64
    ({"type": "frames"}, "all_frames", 256, 0, 15 * 65536 * 8),           # raw camera 256x256
    ({"type": "frames", "binarize": True}, "all_frames", 64, 0, 15 * 4096),
    ({"type": "frames"}, "frame_differences", 64, 8, 15 * 4096 * 2),      # ternary differences
    ({"type": "frames"}, "last_difference", 64, 8, 4096 * 2),
    ({"type": "frames"}, "middle_frame", 64, 0, 4096 * 8),
]


@pytest.mark.parametrize("encoder, cell, size, memory, readout", BITS)
def test_memory_and_readout_bits(encoder, cell, size, memory, readout):
    stage = {"readout": {"type": cell}} if cell in CLIP_READOUTS else {"cell": {"type": cell}}
    model = build_model(resolve({"data": {"frame_size": size}, "model": {"encoder": encoder, **stage}}), 9)
    assert bit_accounting.state_bits_per_pixel(model) == memory
    assert bit_accounting.readout_bits_per_clip(model) == readout


# ----------------------------------------------------------------------------------------------
# Adding a model is one class and one registration
# ----------------------------------------------------------------------------------------------
def test_a_toy_cell_needs_nothing_but_its_definition():
    try:
        @CELLS.register("toy_leaky_sign")
        class ToyCell(ConvRecurrentCell):
            """h_t = sign(W x + leak h): one kernel, one argument of its own."""
            conv_names = ("Conv_i",)

            def __init__(self, *, weight_quantizer, gate_quantizer, hidden_quantizer, kernel_size: int = 5,
                         leak: float = 0.5):
                super().__init__(weight_quantizer=weight_quantizer, gate_quantizer=gate_quantizer,
                                 hidden_quantizer=hidden_quantizer, kernel_size=kernel_size)
                self.leak = leak

            def step(self, inputs, state):
                total = inputs["Conv_i"] + self.leak * state["h"]
                return {"h": self.decide(self.hidden_quantizer, total)}, total

        cfg = resolve({"data": {"frame_size": 16, "timesteps": 3}, "model": {"cell": {"type": "toy_leaky_sign"}}},
                      ["model.cell.leak=2.0"])
        assert cfg["model"]["cell"] == {"type": "toy_leaky_sign", "kernel_size": 5, "leak": 2.0}
        with pytest.raises(ConfigError, match=r"'model.cell.leak'.*must be a number, got 'x'"):
            resolve({"model": {"cell": {"type": "toy_leaky_sign", "leak": "x"}}})
        model = build_model(cfg, 3)
        logits = model(torch.randn(2, 3, 1, 16, 16))
        logits.sum().backward()
        assert model.cell.Conv_i.weight.grad.abs().sum() > 0
        assert bit_accounting.state_bits_per_pixel(model) == 1
    finally:
        CELLS.pop("toy_leaky_sign", None)
