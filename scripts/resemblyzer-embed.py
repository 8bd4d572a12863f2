#!/usr/bin/env python3
"""Resemblyzer's own embeddings of audio files, one JSON line per file:

    {"file": "PATH", "embedding": [256 floats]}

This is the reference side of scripts/check-pretrained-parity. Run it with a
Python that has resemblyzer==0.1.4 (docs/pretrained.md):

    VENV/bin/python scripts/resemblyzer-embed.py [--no-trim] FILE... [--list FILE]

Files are read the way Resemblyzer's preprocess_wav reads a path
(librosa.load at the file's own rate, mono) and resampled to 16 kHz when
needed. By default the whole of preprocess_wav runs (volume normalisation to
-30 dBFS, increase only, then trim_long_silences with webrtcvad). --no-trim
leaves out trim_long_silences: that is the parity mode, because Voiceprint's
side runs with its own VAD off (`voiceprint embed --no-vad`) and webrtcvad is
not something we re-implement. Then embed_utterance with its defaults.
"""
import argparse
import json
import sys

import resemblyzer_support as support


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", help="audio files (anything librosa.load reads)")
    parser.add_argument("--list", metavar="FILE", help="also embed the files named in FILE, one path per line")
    parser.add_argument("--no-trim", action="store_true",
                        help="skip trim_long_silences (parity mode: normalise volume, then embed)")
    parser.add_argument("--device", default="cpu", help="torch device for the encoder (default: cpu)")
    args = parser.parse_args()

    paths = support.read_file_arguments(args.files, args.list)
    if not paths:
        parser.error("no audio files given (arguments or --list)")
    resemblyzer = support.import_resemblyzer()
    encoder = support.load_encoder(resemblyzer, args.device)
    for path in paths:
        try:
            embedding = support.embed_file(resemblyzer, encoder, path, trim=not args.no_trim)
        except Exception as error:  # one clear line naming the file, not a traceback
            sys.exit(f"{sys.argv[0]}: {error if path in str(error) else f'{path}: {error}'}")
        print(json.dumps({"file": path, "embedding": embedding.tolist()}), flush=True)


if __name__ == "__main__":
    main()
