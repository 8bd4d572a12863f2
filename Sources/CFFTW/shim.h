// Umbrella header for the fftw3f system library (libfftw3-dev on Debian).
#pragma once
#include <fftw3.h>
