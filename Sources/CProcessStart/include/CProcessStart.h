#ifndef VOICEPRINT_CPROCESSSTART_H
#define VOICEPRINT_CPROCESSSTART_H

/// Whether SIGHUP was set to be ignored before main ran (see ProcessStart.c).
/// voiceprintd calls it, which also keeps the constructor linked in.
int voiceprint_sighup_ignored_at_start(void);

#endif
