"""Renamed config keys (issue 19, "kernels" meant four things): ``model.kernels`` is ``model.compute``,
``model.freeze_binary_kernels`` is ``model.freeze_binary_weights``. Old configs, ``--set`` with an old
name and stored runs' config.json still load, to the same resolved config, with a FutureWarning."""
import copy
import json
import shutil

import pytest

from training_utils.config import ConfigError, load_config, resolve
from training_utils.paths import REPO_ROOT
from training_utils.release_vocabulary import RENAMED_KEYS
from training_utils.run_reuse import reusable_run

OLD = {"data": {"frame_size": 16, "timesteps": 4}, "model": {"kernels": "torch", "freeze_binary_kernels": True}}
NEW = {"data": {"frame_size": 16, "timesteps": 4}, "model": {"compute": "torch", "freeze_binary_weights": True}}
STORED_RUN = REPO_ROOT / "pretrained" / "synthetic_pixelrnn"


def test_an_old_config_resolves_to_the_same_config_with_a_deprecation_note():
    with pytest.warns(FutureWarning) as notes:
        old = resolve(copy.deepcopy(OLD), source="old.json")
    assert old == resolve(copy.deepcopy(NEW))
    assert "kernels" not in old["model"] and "freeze_binary_kernels" not in old["model"]
    messages = sorted(str(n.message) for n in notes)
    assert messages == ["config (in old.json): model.freeze_binary_kernels is now model.freeze_binary_weights "
                        "(the old name still loads; rename it)",
                        "config (in old.json): model.kernels is now model.compute (the old name still loads; "
                        "rename it)"]


def test_set_with_an_old_name_sets_the_new_key():
    with pytest.warns(FutureWarning, match="--set model.kernels: model.kernels is now model.compute"):
        cfg = resolve({}, ["model.kernels=native", "model.freeze_binary_kernels=true"])
    assert (cfg["model"]["compute"], cfg["model"]["freeze_binary_weights"]) == ("native", True)


def test_both_names_with_different_values_are_refused():
    with pytest.raises(ConfigError, match=r"gives both model.kernels \('torch', the old name\) and model.compute "
                                          r"\('native'\); keep model.compute only"):
        resolve({"model": {"kernels": "torch", "compute": "native"}})


def test_a_new_config_gives_no_note(recwarn):
    resolve(copy.deepcopy(NEW))
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]
    assert set(RENAMED_KEYS.values()) <= {f"model.{k}" for k in resolve({})["model"]}


def test_a_stored_run_with_old_keys_is_reused_by_a_sweep_asking_the_same_config(tmp_path):
    """A sweep compares the stored config.json (old names) with the config it asks (new names)."""
    run = tmp_path / "run"
    shutil.copytree(STORED_RUN, run)
    stored = json.loads((run / "config.json").read_text())
    stored["model"]["freeze_binary_kernels"] = stored["model"].pop("freeze_binary_weights")  # as written
    stored["model"]["kernels"] = "torch"                                                     # before the rename
    (run / "config.json").write_text(json.dumps(stored))
    with pytest.warns(FutureWarning):
        asked = load_config(run / "config.json")
    assert asked["model"]["compute"] == "torch" and "kernels" not in asked["model"]
    assert reusable_run(run, asked) is True
    asked["model"]["freeze_binary_weights"] = not asked["model"]["freeze_binary_weights"]
    with pytest.raises(ValueError, match="model.freeze_binary_weights: stored False, asked True"):
        reusable_run(run, asked)
