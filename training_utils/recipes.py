"""Training recipes: ``recipe: "paper"`` reproduces how the release trained its models; ``"project"`` is this
project's defaults (``training_utils.config.KEYS`` and the components' signatures). The paper recipe is a
preset of the keys below; keys a config (or ``--set``) gives explicitly win.

Each entry: (config key, the paper's value, why the project's default differs). A value may be a function
of the config (the release's choices depended on dataset and model).
"""
from __future__ import annotations

# The release's +-10 % RandomAffine translation, in pixels of the model's frame.
RELEASE_TRANSLATE_FRACTION = 0.1


def _release_translate(cfg: dict) -> int:
    """10 % of the frame (6 px at 64) on tulips1 and with the plain one-layer CNN on Cambridge, else 0"""
    data, encoder = cfg["data"], cfg["model"]["encoder"]
    plain_cnn = encoder.get("type") == "binary_cnn" and encoder.get("layers", 1) == 1 \
        and not encoder.get("noise_std", 0.0)
    lips = data["dataset"] in ("tulips1", "synthetic_lips")
    return round(RELEASE_TRANSLATE_FRACTION * data["frame_size"]) if lips or plain_cnn else 0


def _release_encoder_threshold(cfg: dict):
    """1.0 with a noise-trained CNN, else U[0, 1)"""
    return 1.0 if cfg["model"]["encoder"].get("noise_std", 0.0) else None


RECIPE_KEYS = [
    ("data.augment.per_frame", True,
     "the release drew the translation per frame (temporal jitter inside a clip); one shift per clip keeps the "
     "motion intact"),
    ("data.augment.translate", _release_translate,
     "the release shifted by up to 10 % only tulips1 and the plain-CNN Cambridge runs; the project sets the "
     "shift per config (e.g. 4 px in its Cambridge configs)"),
    ("data.augment.fill", "black",
     "the release's RandomAffine filled the uncovered border with black before normalising (it binarises to -1); "
     "the project fills with the model-space value 0, which binarises to 0 (neither on nor off), so a shift "
     "adds no dark edge the scene did not have"),
    ("data.short_clips", "stretch_random",
     "the release lengthened a short clip with random duplicate frames (a random time-stretch, seeded with 2023 "
     "for its Tulips1 evaluation clips); repeating the last frame keeps the motion's speed and adds no randomness"),
    ("data.frame_sampling", "release",
     "the release takes frames at stride floor(kN/16) with a random offset in training and ends on the last "
     "frame in evaluation; the project spreads them over the whole clip (centred in evaluation)"),
    ("model.encoder.threshold_init", _release_encoder_threshold,
     "pooled maps are integers: any value in (0, 1) decides p >= 1; the midpoint is deterministic and gives "
     "p = 0 and p = 1 the same surrogate slope"),
    ("model.encoder.input_threshold_init", 1.0,
     "only with an input threshold (the release's CNN_noise_lip, thresh0 at 1.0); 0 starts where the plain CNN "
     "binarises (sign of the preprocessed frame, gray ~0.46), 1.0 at gray ~0.68"),
    ("model.cell.threshold_init", 1.0,
     "the gate sum is an even integer: -1 opens the gate at 0 as the plain gate does, midway between the "
     "levels -2 and 0 where the surrogate gradient through time does not explode (1.0 is midway too, "
     "but closes the gate at 0)"),
    ("model.freeze_binary_weights", True,
     "the release overwrote each kernel with its sign in the forward pass, so its kernels never changed sign "
     "(the paper's numbers were obtained that way); the project trains latent real weights"),
    ("train.recalibrate_batchnorm", False,
     "the release evaluated with the running averages of the training steps, which lag behind each sign flip "
     "of a kernel; the project recomputes the read-out BatchNorm's statistics on the training clips before "
     "each evaluation, so the validation accuracy that picks best.pt measures the current weights"),
    ("train.bound_parameters", False,
     "the release let the encoder threshold move freely; on its ReLU'd, pooled integer maps a threshold <= 0 "
     "turns every pixel on and the run is dead (synthetic_lips seed 0 at epoch 14), so the project keeps it "
     "within (0.05, fan-in - 0.05) after each step"),
    ("train.batch_size", 1, "batch size 1 makes the read-out BatchNorm see one map per step and is slow"),
    ("train.scheduler", "plateau", "a fixed cosine schedule is reproducible across seeds and lengths"),
    ("train.plateau_monitor", "min val_loss",
     "only used by the plateau scheduler: the project watches what it selects the model by"),
    ("train.loss_reduction", "sum", "a summed loss makes the step size depend on the batch size"),
    ("noise.eval", True,
     "with sensor noise on at evaluation, test accuracy is random; the project reports noise-free accuracy"),
    ("noise.selection", True,
     "with noise on in the validation pass, best.pt is picked by a random draw"),
]
RECIPES = ("paper", "project")


def preset(recipe: str, cfg: dict) -> dict:
    """{dotted key: value} of ``recipe`` for the (merged, not yet validated) config ``cfg``."""
    if recipe == "project":
        return {}
    return {key: value(cfg) if callable(value) else value for key, value, _ in RECIPE_KEYS}


def markdown_table(project_default) -> str:
    """The README's table of every difference; ``project_default(key)`` gives the project's value."""
    def shown(value):
        if callable(value):
            return value.__doc__.strip()
        return "U[0, 1)" if value is None else f"`{value!r}`"
    lines = ["| key | paper | project | why the project differs |", "|---|---|---|---|"]
    lines += [f"| `{key}` | {shown(paper)} | {shown(project_default(key))} | {why} |" for key, paper, why in RECIPE_KEYS]
    return "\n".join(lines)
