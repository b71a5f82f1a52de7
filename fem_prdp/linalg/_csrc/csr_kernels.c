/* Fused CSR kernels for fem_prdp.linalg, loaded with ctypes by fem_prdp/linalg/native.py.
 *
 * Built at first use with the system C compiler (-O3 -march=native -fopenmp). The OpenMP
 * runtime it links (libgomp.so.1) is the one torch has already loaded, so these kernels and
 * torch's share one thread pool.
 */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#define T double
#define F(name) name##_f64
#include "csr_kernels.inc"
#undef T
#undef F

#define T float
#define F(name) name##_f32
#include "csr_kernels.inc"
#undef T
#undef F
