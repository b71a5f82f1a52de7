"""Build the fused CPU kernels at install time (metadata lives in pyproject.toml).

`fem_prdp/linalg/_csrc/csr_kernels.c` becomes the shared library
`fem_prdp/linalg/_csr_kernels*.so` (`.pyd` on Windows), which `fem_prdp.linalg.native`
loads with ctypes: nothing is compiled at run time. Portable flags by default (-O3 and
OpenMP; with GCC on x86-64 each kernel also gets an AVX2 + FMA clone that the loader picks
on machines that have them); `FEM_PRDP_NATIVE_TUNE=1` at install adds -march=native.
Without OpenMP (Apple clang without libomp) the kernels build single-threaded; without any
C compiler the package installs without them and the torch loops run (`native.status()`
says why).
"""

import hashlib
import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCES = [Path("fem_prdp/linalg/_csrc") / name for name in ("csr_kernels.c", "csr_kernels.inc")]


def source_hash() -> str:
    """The digest native.py recomputes from the installed sources, so a library built from
    other sources (an edited checkout, a stale build) is never loaded."""
    digest = hashlib.sha256()
    for path in SOURCES:
        digest.update(path.read_bytes().replace(b"\r\n", b"\n"))
    return digest.hexdigest()[:16]


def openmp_flags() -> tuple[list[str], list[str]]:
    if sys.platform == "win32":
        return ["/openmp"], []
    if sys.platform == "darwin":
        return ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    return ["-fopenmp"], ["-fopenmp"]


class OptionalKernels(build_ext):
    """Build with OpenMP, else without it, else without the AVX2 clones (a toolchain with
    no ifunc support, such as musl's), else skip: the kernels are an accelerator."""

    def build_extension(self, ext):
        omp_compile, omp_link = openmp_flags()
        base = list(ext.extra_compile_args)
        no_clones = "-DFEM_PRDP_NO_CLONES" if sys.platform != "win32" else "/DFEM_PRDP_NO_CLONES"
        attempts = ((base + omp_compile, omp_link), (base, []), (base + omp_compile + [no_clones], omp_link),
                    (base + [no_clones], []))
        for compile_args, link_args in attempts:
            ext.extra_compile_args, ext.extra_link_args = compile_args, link_args
            try:
                super().build_extension(ext)
                return
            except Exception as err:  # noqa: BLE001 - any compiler failure means "try the next option"
                reason = err
        print(f"fem_prdp: the fused CPU kernels were not built ({reason}); the torch loops will run",
              file=sys.stderr)


optimise = ["/O2"] if sys.platform == "win32" else ["-O3"]
if os.environ.get("FEM_PRDP_NATIVE_TUNE") == "1" and sys.platform != "win32":
    optimise.append("-march=native")

setup(
    ext_modules=[Extension(
        "fem_prdp.linalg._csr_kernels",
        sources=[str(SOURCES[0])],
        depends=[str(SOURCES[1])],
        define_macros=[("FEM_PRDP_SOURCE_HASH", f'"{source_hash()}"')],
        extra_compile_args=optimise,
    )],
    cmdclass={"build_ext": OptionalKernels},
)
