// What voiceprintd must do before any Swift code runs.
//
// systemd's ExecReload (and an administrator's `kill -HUP`) may send SIGHUP at
// any moment, and its default action terminates the process. Swift's main
// starts only after the runtime and every module have been initialised, so a
// handler installed there still leaves a window at start-up. A constructor runs
// as soon as the executable is loaded: SIGHUP is ignored from then until the
// daemon replaces the disposition with its reload handler (`SignalStream`), at
// the start of `run()`: a SIGHUP before that is dropped (the configuration has
// not been read yet, so there is nothing to reload); one after it is queued and
// reloads once the daemon serves.
#include <signal.h>
#include "CProcessStart.h"

static int ignored_at_start = 0;

__attribute__((constructor)) static void voiceprint_ignore_sighup_from_start(void) {
    ignored_at_start = signal(SIGHUP, SIG_IGN) != SIG_ERR;
}

int voiceprint_sighup_ignored_at_start(void) { return ignored_at_start; }
