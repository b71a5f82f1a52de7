/* Fused CSR kernels for fem_prdp.linalg, loaded with ctypes by fem_prdp/linalg/native.py.
 *
 * Built at install time by setup.py (portable -O3 with OpenMP; -march=native opt-in). The
 * OpenMP runtime it links (libgomp.so.1) is the one torch has already loaded, so these
 * kernels and torch's share one thread pool. Without OpenMP the pragmas are ignored and
 * the kernels run on one thread.
 */
#include <Python.h> /* only for the module-init stub below */

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_thread_num(void) { return 0; }
static int omp_get_num_threads(void) { return 1; }
#endif

#ifndef FEM_PRDP_SOURCE_HASH
#define FEM_PRDP_SOURCE_HASH "unknown"
#endif

#if defined(_MSC_VER)
#define restrict __restrict
#endif
#if defined(_WIN32)
#define EXPORT __declspec(dllexport)
#else
#define EXPORT __attribute__((visibility("default")))
#endif

/* On x86-64 with GCC (11 or newer) on an ELF system, each exported kernel is compiled twice,
 * for AVX2 + FMA (x86-64-v3) and for the portable baseline, and the loader picks one per
 * machine (an ifunc): the build stays portable. Measured on Jacobi-PCG solves, the builds
 * alternating (experiments/RESULTS.md): 13% / 15% less time than the baseline build at 50k /
 * 205k nodes, no slower than a whole -march=x86-64-v3 build. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__ELF__) \
    && !defined(FEM_PRDP_NO_CLONES)
#define KERNEL EXPORT __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define KERNEL EXPORT
#endif

/* What the library was built from and how: native.py loads it only when the hash equals
 * that of the installed sources (the ctypes declarations there are written against them). */
EXPORT const char *fem_prdp_kernels_source_hash(void) { return FEM_PRDP_SOURCE_HASH; }
EXPORT int fem_prdp_kernels_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* setuptools builds this as an extension module; it is a plain C library for ctypes. */
PyMODINIT_FUNC PyInit__csr_kernels(void) {
    PyErr_SetString(PyExc_ImportError,
                    "fem_prdp.linalg._csr_kernels holds C kernels that fem_prdp.linalg.native loads with ctypes");
    return NULL;
}

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
