from .cells import CELLS
from .classifier import InPixelClassifier, build_model
from .clip_readouts import CLIP_READOUTS
from .encoders import ENCODERS
from .sensor_noise import set_noise

__all__ = ["CELLS", "CLIP_READOUTS", "ENCODERS", "InPixelClassifier", "build_model", "set_noise"]
