// Umbrella header for the sndfile system library (libsndfile1-dev on Debian).
#pragma once
#include <sndfile.h>
