"""State-dict keys: the model's parts are ``encoder`` and ``cell`` (or ``readout``); checkpoints written with the release's
``cnn_model.`` / ``rnn_model.`` prefixes (the release's, and this project's before the rename) load
through the one migration in ``read_checkpoint``, and new checkpoints carry the new keys."""
import pytest
import torch

from model_utils import build_model
from training_utils.checkpoints import CheckpointError, load_weights, read_checkpoint
from training_utils.config import load_config
from training_utils.model_loading import load_model
from training_utils.paths import REPO_ROOT
from training_utils.release_vocabulary import migrate_state_keys, release_state_key

STORED_RUN = REPO_ROOT / "pretrained" / "synthetic_pixelrnn"


def test_a_checkpoint_written_before_the_rename_loads_with_the_new_keys(tmp_path):
    raw = torch.load(STORED_RUN / "best.pt", map_location="cpu", weights_only=True)["model"]
    assert "cnn_model.conv1.weight" in raw and "rnn_model.ConvGates_h.weight" in raw  # written before
    model, _, checkpoint = load_model(load_config(STORED_RUN / "config.json"), str(STORED_RUN / "best.pt"))
    assert torch.equal(model.encoder.conv1.weight, raw["cnn_model.conv1.weight"])
    assert torch.equal(model.cell.ConvGates_h.weight, raw["rnn_model.ConvGates_h.weight"])
    assert not [k for k in checkpoint["model"] if k.startswith(("cnn_model.", "rnn_model."))]

    torch.save({"model": model.state_dict()}, tmp_path / "new.pt")  # what the trainer writes now
    written = torch.load(tmp_path / "new.pt", weights_only=True)["model"]
    assert {k.split(".")[0] for k in written} == {"encoder", "cell", "fin_conv", "fin_convpost", "thresh3", "fc"}
    again, _, _ = load_model(load_config(STORED_RUN / "config.json"), str(tmp_path / "new.pt"))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_a_key_under_both_names_is_refused(tmp_path):
    state = torch.load(STORED_RUN / "best.pt", map_location="cpu", weights_only=True)["model"]
    state["encoder.conv1.weight"] = state["cnn_model.conv1.weight"]
    torch.save(state, tmp_path / "both.pt")
    with pytest.raises(CheckpointError, match=r"both.pt: checkpoint holds 'encoder.conv1.weight' under both its "
                                              r"name and the release's \('cnn_model.conv1.weight'\)"):
        read_checkpoint(tmp_path / "both.pt")


def test_release_names_round_trip():
    keys = ["cnn_model.thresh1", "rnn_model.Conv_out_h.weight", "fin_conv.weight", "fc.bias"]
    migrated = list(migrate_state_keys(dict.fromkeys(keys, 0)))
    assert migrated == ["encoder.thresh1", "cell.Conv_out_h.weight", "fin_conv.weight", "fc.bias"]
    assert [release_state_key(k) for k in migrated] == keys


def test_an_old_single_frame_checkpoint_loads_into_the_readout(tmp_path):
    """single_frame was a cell: its kernel was saved under ``cell.`` (and, before that, ``rnn_model.``); the
    model now holds it under ``readout.`` and the old checkpoint gives the same logits."""
    cfg = load_config(REPO_ROOT / "configs" / "Synthetic" / "single_frame.json", ["data.frame_size=16"])
    torch.manual_seed(0)
    model = build_model(cfg, 4).eval()
    assert "readout.Conv_out_i.weight" in model.state_dict()
    clips = torch.randn(3, 1, 1, 16, 16)
    with torch.no_grad():
        want = model(clips)
    for old in ("cell.", "rnn_model."):
        state = {(old + k[len("readout."):] if k.startswith("readout.") else "cnn_model." + k[len("encoder."):]
                  if k.startswith("encoder.") else k): v for k, v in model.state_dict().items()}
        assert old + "Conv_out_i.weight" in state and not [k for k in state if k.startswith("readout.")]
        torch.save({"model": state}, tmp_path / "old.pt")
        torch.manual_seed(1)
        fresh = build_model(cfg, 4).eval()
        assert not torch.equal(fresh.readout.Conv_out_i.weight, model.readout.Conv_out_i.weight)
        load_weights(fresh, tmp_path / "old.pt")
        with torch.no_grad():
            assert torch.equal(fresh(clips), want)


def test_a_readout_models_migration_maps_cell_keys_to_readout():
    keys = ["cnn_model.conv1.weight", "rnn_model.Conv_out_i.weight", "cell.Conv_out_i.weight", "fc.bias"]
    assert list(migrate_state_keys(dict.fromkeys(keys[:2] + keys[3:], 0), "readout")) == \
        ["encoder.conv1.weight", "readout.Conv_out_i.weight", "fc.bias"]
    assert list(migrate_state_keys(dict.fromkeys(keys[2:], 0), "readout")) == ["readout.Conv_out_i.weight", "fc.bias"]
