"""Frozen training/model configuration."""

from __future__ import annotations

from dataclasses import dataclass

BACKBONES = ("compact",)


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a model and its training run; hashable and immutable."""

    task: str  # e.g. "chest-xray"
    classes: tuple[str, ...]
    image_size: int = 64  # square side the model resizes to
    backbone: str = "compact"  # only "compact" (small CNN) for now
    epochs: int = 8
    batch_size: int = 64
    learning_rate: float = 1e-3
    dropout: float = 0.3
    seed: int = 42
    patience: int = 3  # early stopping on val loss

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        if len(self.classes) < 2:
            raise ValueError("ModelConfig.classes needs at least two classes")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("ModelConfig.classes must be unique")
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; expected one of {BACKBONES}")
        if self.image_size < 8:
            raise ValueError("ModelConfig.image_size must be at least 8")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 0:
            raise ValueError("epochs and batch_size must be >= 1, patience >= 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")
