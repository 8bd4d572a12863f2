#!/bin/sh
# pam-voiceprint.sh: a voice check for pam_exec(8) that never locks anyone out.
#
# /etc/pam.d/sudo (before @include common-auth):
#   auth  sufficient  pam_exec.so quiet seteuid /usr/local/share/voiceprint/pam-voiceprint.sh
#
# "seteuid": pam_exec runs the helper with the caller's real uid otherwise (the
# user, under su and sudo), and the daemon must see root to let it list speakers.
# "sufficient": success skips the password prompt; any failure (rejected voice,
# no microphone, daemon down, bad audio, timeout) falls through to the password,
# and so does exit 8: after too many rejected attempts the daemon locks voice
# checks for this user for a while (doubling each time), until the lockout
# expires or an admin runs `voiceprint unlock USER`; the password is the way in meanwhile.
# A voice factor does not stop a good recording or a cloned voice: keep it a
# convenience in front of the password, never the only factor.
# Every step has a time limit, so a hung microphone or daemon cannot hang login.
set -u
user=${PAM_USER:-}
[ -n "$user" ] || exit 1
# Only for users who enrolled; everyone else goes straight to the password.
# (So the 4 s recording pause at a prompt shows who has a voiceprint; record for
# everyone instead if that matters more than the wait.)
timeout 3 voiceprint list --timeout 2 2>/dev/null | cut -f1 | grep -qx "$user" || exit 1
tmp=$(mktemp /tmp/voiceprint-pam.XXXXXX) || exit 1
trap 'rm -f "$tmp"' EXIT
timeout 6 arecord -q -f S16_LE -r 16000 -c 1 -d 4 -t wav "$tmp" 2>/dev/null || exit 1
timeout 10 voiceprint verify "$user" "$tmp" --timeout 8 >/dev/null 2>&1
status=$?
if [ "$status" -eq 8 ]; then
  # Locked: a note on standard error (kept when pam_exec is given log=FILE), then the password.
  echo "voice check locked after too many failed attempts; use your password" >&2
fi
exit "$status"
