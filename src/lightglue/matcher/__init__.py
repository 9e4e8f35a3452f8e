"""The LightGlue matcher: model, configuration and presets."""

from lightglue.matcher.config import FEATURE_PRESETS, LightGlueConfig
from lightglue.matcher.lightglue import LightGlue

__all__ = ["FEATURE_PRESETS", "LightGlue", "LightGlueConfig"]
