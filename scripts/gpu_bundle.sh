#!/usr/bin/env bash
# Packs, on a machine with network access, what scripts/gpu_check.sh needs on a GPU machine
# that has CUDA torch but no network (this project's lent H200: python3 3.12 with torch,
# numpy, scipy, h5py, rich, tqdm, matplotlib, torch_geometric and pytest, nothing to fetch):
#
#   .gpu-bundle/wheels  the Python packages missing there, for CPython $FEM_PRDP_GPU_PY
#                       (default 3.12): meshio, gmsh, pyamg, torch-fem 0.14, scikit-fem
#   .gpu-bundle/debs    the Debian packages of the shared libraries gmsh's library links
#                       beyond the runtimes Python has (X11, GL, fontconfig, freetype, ...),
#                       found with ldd and dpkg on this machine
#
# About 45 MB, gitignored. On the GPU machine scripts/gpu_check.sh installs the wheels under
# /tmp and unpacks the libraries there (nothing outside /tmp changes); carry `.gpu-bundle`
# with the working tree. pyvista is left out: torch-fem imports it for plotting only, and
# VTK's wheel (140 MB) is over what travels (`bench peers` loads torch-fem's solver module
# alone where pyvista is missing).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py_version="${FEM_PRDP_GPU_PY:-3.12}"
for tool in apt-get dpkg ldd unzip; do
    command -v "$tool" >/dev/null || { echo "gpu_bundle: needs $tool (a Debian or Ubuntu machine)" >&2; exit 2; }
done
staging=.gpu-bundle.tmp
rm -rf "$staging"
mkdir -p "$staging/wheels" "$staging/debs"
platforms=()
for tag in manylinux_2_28 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
    platforms+=(--platform "${tag}_x86_64")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$py_version" --implementation cp \
    "${platforms[@]}" -d "$staging/wheels" meshio gmsh pyamg "torch-fem==0.14.0" "scikit-fem>=10"

unpacked="$(mktemp -d)"
trap 'rm -rf "$unpacked"' EXIT
unzip -q "$staging"/wheels/gmsh-*.whl '*/libgmsh.so*' -d "$unpacked"
libgmsh="$(find "$unpacked" -name 'libgmsh.so*' -type f | head -n 1)"
# the C, C++ and OpenMP runtimes, zlib and expat are on any machine with Python and a compiler;
# a second copy of one, put first on the library path, could shadow what Python and torch
# load (and this machine's builds may need a newer C library than the GPU machine's)
runtime='^(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|libgomp|libz|libexpat|ld-linux-x86-64|linux-vdso)\.so'
missing="$(ldd "$libgmsh" | awk '$2 == "=>" && $3 == "not" {print $1}')"
if [ -n "$missing" ]; then
    echo "gpu_bundle: this machine lacks libraries gmsh links ($missing); install gmsh's dependencies here first" >&2
    exit 2
fi
packages=""
for soname in $(ldd "$libgmsh" | awk '$2 == "=>" {print $1}' | grep -v -E "$runtime"); do
    package="$(dpkg -S "*/$soname" 2>/dev/null | awk -F: 'NR == 1 {print $1}')"
    [ -n "$package" ] || { echo "gpu_bundle: no Debian package here holds $soname, which gmsh links" >&2; exit 1; }
    packages+=" $package"
done
packages="$(echo "$packages" | tr ' ' '\n' | sed '/^$/d' | sort -u)"
(cd "$staging/debs" && apt-get download $packages 2>&1 | grep -v -E '^(Get|Fetched|W: Download is performed unsandboxed)' || true)
[ "$(find "$staging/debs" -name '*.deb' | wc -l)" -eq "$(echo "$packages" | wc -w)" ] || {
    echo "gpu_bundle: apt-get download fetched fewer packages than the $(echo "$packages" | wc -w) needed: $packages" >&2
    exit 1
}
echo "$py_version" >"$staging/python"  # gpu_check.sh compares it with the interpreter's
rm -rf .gpu-bundle
mv "$staging" .gpu-bundle
echo "gpu_bundle: $(ls .gpu-bundle/wheels | wc -l) wheels (CPython $py_version) and $(ls .gpu-bundle/debs | wc -l)" \
     "library packages in .gpu-bundle ($(du -sh .gpu-bundle | cut -f1)); carry .gpu-bundle to the GPU machine"
