#!/bin/sh
# voice-gate.sh: run a command only if the speaker's voice checks out.
#   voice-gate.sh alice -- systemctl restart nginx
# Records 4 s from the default microphone (arecord) and asks voiceprintd.
# Exit codes of `voiceprint verify` (DESIGN.md §7) decide what happens.
set -u
speaker=${1:?usage: voice-gate.sh SPEAKER -- COMMAND...}
shift
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "usage: voice-gate.sh SPEAKER -- COMMAND..." >&2; exit 2; }

echo "Say a sentence after the beep, $speaker." >&2
printf '\a' >&2
arecord -q -f S16_LE -r 16000 -c 1 -d 4 -t wav - | voiceprint verify "$speaker" - --timeout 10
case $? in
  0) exec "$@" ;;
  1) echo "voice not recognised; not running: $*" >&2; exit 1 ;;
  3) echo "voiceprintd is not running" >&2; exit 3 ;;
  4) echo "could not hear enough speech; try again closer to the microphone" >&2; exit 4 ;;
  5) echo "$speaker has no voiceprint; enroll first: voiceprint enroll $speaker a.wav b.wav c.wav" >&2; exit 5 ;;
  8) echo "too many failed voice checks for $speaker; wait, or ask an admin: voiceprint unlock $speaker" >&2; exit 8 ;;
  *) echo "voice check failed" >&2; exit 7 ;;
esac
