"""Shared helpers for the scripts that run Resemblyzer itself (the reference
side of the pretrained-model import): resemblyzer-embed.py,
resemblyzer-score.py and resemblyzer-mel-reference.py. Not a script; they
import it from their own folder.

They need a Python with resemblyzer 0.1.4 (and so torch, librosa, webrtcvad)
installed; see docs/pretrained.md.
"""
import importlib.metadata
import os
import sys
import types
import warnings

# Resemblyzer's hparams, repeated here so that a mismatch with the installed
# package is caught (check_version) rather than silently giving other numbers.
SAMPLE_RATE = 16000
TARGET_DBFS = -30
EXPECTED_VERSION = "0.1.4"


def _install_pkg_resources_shim():
    # webrtcvad 2.0.10 (a Resemblyzer dependency) does `import pkg_resources`
    # only to read its own version, and setuptools 81+ no longer ships
    # pkg_resources. Supply the one call it makes instead of pinning an old
    # setuptools in every venv. The real module wins when it exists.
    try:
        import pkg_resources  # noqa: F401
        return
    except ImportError:
        pass
    shim = types.ModuleType("pkg_resources")

    def get_distribution(name):
        return types.SimpleNamespace(project_name=name, version=importlib.metadata.version(name))

    shim.get_distribution = get_distribution
    sys.modules["pkg_resources"] = shim


def import_resemblyzer():
    """Imports resemblyzer (with the shim above) and checks its version."""
    _install_pkg_resources_shim()
    with warnings.catch_warnings():
        # resemblyzer/audio.py imports from the deprecated scipy.ndimage.morphology;
        # the warning is noise on every run.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import resemblyzer
            import resemblyzer.audio  # noqa: F401
        except ImportError as error:
            sys.exit(f"{sys.argv[0]}: cannot import resemblyzer with {sys.executable}: {error}\n"
                     "Run this script with a venv that has resemblyzer==0.1.4 (docs/pretrained.md).")
    version = importlib.metadata.version("resemblyzer")
    if version != EXPECTED_VERSION:
        print(f"{sys.argv[0]}: warning: resemblyzer {version} installed; these scripts were written "
              f"against {EXPECTED_VERSION}", file=sys.stderr)
    hp = resemblyzer.hparams
    if (hp.sampling_rate, hp.audio_norm_target_dBFS) != (SAMPLE_RATE, TARGET_DBFS):
        sys.exit(f"{sys.argv[0]}: resemblyzer.hparams has sampling_rate={hp.sampling_rate}, "
                 f"audio_norm_target_dBFS={hp.audio_norm_target_dBFS}; expected {SAMPLE_RATE}, {TARGET_DBFS}")
    return resemblyzer


def load_encoder(resemblyzer, device="cpu"):
    # verbose=False: the encoder otherwise prints a line on stdout, which
    # would corrupt the JSON lines our scripts write there.
    return resemblyzer.VoiceEncoder(device=device, verbose=False)


def load_audio(path):
    """The waveform as Resemblyzer's preprocess_wav reads a path: librosa.load
    at the file's own rate (float32, mixed down to mono)."""
    import librosa
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    return librosa.load(path, sr=None)


def prepare(resemblyzer, wav, rate, trim=True):
    """Resemblyzer's preprocessing of a loaded waveform.

    trim=True is preprocess_wav exactly (resample, normalise volume to
    -30 dBFS increasing only, trim_long_silences with webrtcvad). trim=False
    does the same steps without trim_long_silences: the parity mode, which
    Voiceprint's engine matches with its own VAD switched off.
    """
    if trim:
        return resemblyzer.preprocess_wav(wav, source_sr=rate)
    import librosa
    # The same resampling call preprocess_wav makes (a no-op at 16 kHz).
    wav = librosa.resample(wav, orig_sr=rate, target_sr=SAMPLE_RATE)
    return resemblyzer.normalize_volume(wav, TARGET_DBFS, increase_only=True)


def embed_file(resemblyzer, encoder, path, trim=True):
    """One file's utterance embedding (embed_utterance defaults: 1.6 s
    partials at rate 1.3, min_coverage 0.75), as float32 [256]."""
    import numpy as np
    wav, rate = load_audio(path)
    wav = prepare(resemblyzer, wav, rate, trim=trim)
    if len(wav) == 0:
        raise ValueError(f"{path}: no audio left after preprocessing"
                         f"{' (trim_long_silences found no speech)' if trim else ''}")
    embedding = encoder.embed_utterance(wav)
    if not np.all(np.isfinite(embedding)):
        # A digitally silent file: normalize_volume divides by an RMS of 0.
        raise ValueError(f"{path}: Resemblyzer gave a non-finite embedding (silent audio?)")
    return embedding.astype(np.float32)


def read_file_arguments(files, list_path):
    """Audio paths from the command line plus, with --list, one per line of
    a file (blank lines and # comments skipped)."""
    paths = list(files)
    if list_path:
        with open(list_path, encoding="utf-8") as handle:
            paths += [line.strip() for line in handle if line.strip() and not line.lstrip().startswith("#")]
    return paths
