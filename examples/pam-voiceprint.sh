#!/bin/sh
# pam-voiceprint.sh: a voice check for pam_exec(8) that never locks anyone out.
#
# /etc/pam.d/sudo (before @include common-auth):
#   auth  sufficient  pam_exec.so quiet /usr/local/share/voiceprint/pam-voiceprint.sh
#
# "sufficient": success skips the password prompt; any failure (rejected voice,
# no microphone, daemon down, bad audio, timeout) falls through to the password.
# Every step has a time limit, so a hung microphone or daemon cannot hang login.
set -u
user=${PAM_USER:-}
[ -n "$user" ] || exit 1
# Only for users who enrolled; everyone else goes straight to the password.
timeout 3 voiceprint list --timeout 2 2>/dev/null | cut -f1 | grep -qx "$user" || exit 1
tmp=$(mktemp /tmp/voiceprint-pam.XXXXXX) || exit 1
trap 'rm -f "$tmp"' EXIT
timeout 6 arecord -q -f S16_LE -r 16000 -c 1 -d 4 -t wav "$tmp" 2>/dev/null || exit 1
timeout 10 voiceprint verify "$user" "$tmp" --timeout 8 >/dev/null 2>&1
