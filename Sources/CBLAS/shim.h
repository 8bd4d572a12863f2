// Umbrella header for the openblas system library (libopenblas-dev on Debian).
#pragma once
#include <cblas.h>
// openblas_set_num_threads lives in cblas.h on Debian's OpenBLAS; declared
// here too so the module compiles against other vendors' cblas.h.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
