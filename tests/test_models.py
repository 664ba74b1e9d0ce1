import json

import cv2
import numpy as np
import pytest
import torch

from model_utils import CELLS, CLIP_READOUTS, build_model, set_noise
from model_utils.binary_layers import binary_weights
from model_utils.mosaic import tile, untile
from training_utils.checkpoints import CheckpointError, load_weights
from training_utils.config import load_config, resolve
from training_utils.trainer import project_to_bounds


def reference_clip(reference, folder):
    frames = [cv2.imread(str(reference / "intermediates" / folder / str(t) / "0_binarized_x.BMP"), cv2.IMREAD_GRAYSCALE)
              for t in range(16)]
    return torch.tensor(np.stack(frames)).float().div(255).sub(0.5).view(1, 16, 1, 64, 64)


def released(reference, config, checkpoint, classes):
    model = build_model(load_config(reference / "configs" / config), classes)
    load_weights(model, reference / "checkpoints" / checkpoint)
    return model.eval()


def test_released_checkpoints_reproduce_expected_logits(reference):
    expected = json.loads((reference / "expected.json").read_text())
    model = released(reference, "Cambridge/1cnnPixelRNN/test_cam.json", "cam_noise.pt", 9)
    for clip, want in expected["cam_noise_logits_noise_off_from_0_binarized_x"].items():
        with torch.no_grad():
            logits = model(reference_clip(reference, "cam10/" + clip))[0]
        assert torch.allclose(logits, torch.tensor(want["logits"]), atol=1e-3), clip
        assert logits.argmax().item() == int(np.argmax(want["logits"]))
    lips = released(reference, "Lips/1cnnPixelRNN/test_lips.json", "lips_no_noise.pt", 4)
    with torch.no_grad():
        logits = lips(reference_clip(reference, "lip10/2/Don1"))[0]
    want = expected["lips_no_noise_on_lip10_2_Don1"]
    assert torch.allclose(logits, torch.tensor(want["logits_noise_free"]), atol=1e-3)


def test_noise_is_off_in_evaluation_unless_switched_on(reference):
    model = released(reference, "Cambridge/1cnnPixelRNN/test_cam.json", "cam_noise.pt", 9)
    clip = reference_clip(reference, "cam10/1/Set1_1_0002")
    with torch.no_grad():
        a, b = model(clip), model(clip)
        assert torch.equal(a, b)
        set_noise(model, evaluation=True)
        torch.manual_seed(0)
        c = model(clip)
    assert not torch.equal(a, c)


def test_checkpoint_of_another_architecture_is_refused_with_reason(reference, tmp_path):
    model = build_model(load_config(reference / "configs/Lips/1cnnPixelRNN/lip_noise.json"), 4)
    with pytest.raises(CheckpointError, match=r"another architecture.*missing keys: encoder.thresh0.*"
                                              r"fc.weight: checkpoint \(9, 4096\) vs model \(4, 4096\)"):
        load_weights(model, reference / "checkpoints/cam_noise.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt cannot be read"):
        load_weights(model, tmp_path / "junk.pt")


def test_mosaic_is_column_major_and_invertible():
    maps = torch.arange(16).float().view(1, 16, 1, 1).expand(1, 16, 2, 2).contiguous()
    mosaic = tile(maps)[0, 0]
    assert mosaic.shape == (8, 8)
    # channel c -> block-row c % 4, block-column c // 4
    assert mosaic[::2, ::2].tolist() == [[0, 4, 8, 12], [1, 5, 9, 13], [2, 6, 10, 14], [3, 7, 11, 15]]
    assert torch.equal(untile(tile(maps), 16), maps)


def small_config(cell="pixelrnn", **model):
    stage = {"readout": {"type": cell}, "cell": None} if cell in CLIP_READOUTS else {"cell": {"type": cell}}
    return resolve({"data": {"frame_size": 16, "timesteps": 4}, "model": {**stage, **model}})


@pytest.mark.parametrize("cell", sorted(CELLS) + sorted(CLIP_READOUTS))
def test_every_cell_and_readout_runs_binary_and_gets_gradients(cell):
    torch.manual_seed(0)
    model = build_model(small_config(cell), 3)
    assert model.stage_part == ("readout" if cell in CLIP_READOUTS else "cell")
    clips = torch.randn(2, 4, 1, 16, 16)
    with model.tracing() as trace:
        logits = model(clips)
    assert logits.shape == (2, 3)
    assert set(trace["encoded"][0].unique().tolist()) <= {-1.0, 1.0}
    assert len(trace["encoded"]) == 4
    if "hidden" in trace:
        assert len(trace["hidden"]) == 4
        # the paper's cells break ties towards +1: every state is +-1
        assert set(torch.cat(trace["hidden"]).unique().tolist()) <= {-1.0, 1.0}
    # what is read off is an integer map (sums of +-1 products, or the mosaics and their differences)
    out = torch.cat(trace["output"])
    assert torch.equal(out, out.round())
    logits.sum().backward()
    grads = {n: p.grad for n, p in binary_weights(model)}
    if cell not in ("frame_differences", "last_difference"):  # the sign of a difference passes no gradient
        assert grads["encoder.conv1.weight"].abs().sum() > 0
    stage = model.stage_part
    if model.stage.conv_names:
        assert all(grads[f"{stage}.{k}.weight"] is not None for k in model.stage.conv_names)
        assert any(grads[f"{stage}.{k}.weight"].abs().sum() > 0 for k in model.stage.conv_names)


def test_pixelrnn_recurrence_matches_the_paper_formulas():
    torch.manual_seed(3)
    model = build_model(small_config(), 3).eval()
    clips = torch.randn(1, 4, 1, 16, 16)
    with model.tracing() as trace:
        model(clips)
    conv = torch.nn.functional.conv2d
    cell = model.cell
    w = {k: getattr(cell, k).weight.sign() for k in ("ConvGates_i", "ConvGates_h", "Conv_out_i", "Conv_out_h")}
    h = torch.ones(1, 1, 16, 16)
    for t in range(4):
        x = trace["encoded"][t]
        f = conv(x, w["ConvGates_i"], padding=2) + conv(h, w["ConvGates_h"], padding=2)
        o = conv(x, w["Conv_out_i"], padding=2) + conv(h, w["Conv_out_h"], padding=2)
        assert torch.equal(trace["output"][t], o)
        h = torch.sign(f + 1e-3) * h
        assert torch.equal(trace["hidden"][t], h)


def test_latent_weights_train_and_flip_signs():
    torch.manual_seed(0)
    model = build_model(small_config(), 3)
    before = {n: p.detach().sign().clone() for n, p in binary_weights(model)}
    latent_before = model.encoder.conv1.weight.detach().clone()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    clips, target = torch.randn(8, 4, 1, 16, 16), torch.randint(0, 3, (8,))
    for _ in range(20):
        loss = torch.nn.functional.cross_entropy(model(clips), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    # the forward pass never overwrites the latent weights with their signs
    assert not torch.equal(model.encoder.conv1.weight.detach().abs(), torch.ones_like(latent_before))
    flipped = sum(int((p.detach().sign() != before[n]).sum()) for n, p in binary_weights(model))
    assert flipped > 0


def test_frozen_kernels_keep_their_initial_signs():
    model = build_model(small_config(freeze_binary_weights=True), 3)
    assert all(not p.requires_grad for _, p in binary_weights(model))
    assert model.thresh3.requires_grad and model.encoder.thresh1.requires_grad


def test_released_thresholds_lie_inside_their_bounds_so_projection_keeps_the_checkpoints(reference):
    for config, checkpoint, classes in (("Cambridge/1cnnPixelRNN/test_cam.json", "cam_noise.pt", 9),
                                        ("Lips/1cnnPixelRNN/test_lips.json", "lips_no_noise.pt", 4)):
        model = released(reference, config, checkpoint, classes)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        project_to_bounds(model)
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), checkpoint
