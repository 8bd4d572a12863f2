#!/bin/sh
# record-and-enroll.sh: enroll SPEAKER from three 6-second microphone recordings.
set -eu
speaker=${1:?usage: record-and-enroll.sh SPEAKER}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for i in 1 2 3; do
  echo "Recording $i of 3: read a sentence aloud for 6 seconds..." >&2
  arecord -q -f S16_LE -r 16000 -c 1 -d 6 "$dir/$i.wav"
done
voiceprint enroll "$speaker" "$dir"/1.wav "$dir"/2.wav "$dir"/3.wav
