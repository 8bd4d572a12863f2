// Umbrella header for the soxr system library (libsoxr-dev on Debian).
#pragma once
#include <soxr.h>
