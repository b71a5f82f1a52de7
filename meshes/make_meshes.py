"""Regenerate the example meshes in this folder: `python meshes/make_meshes.py`."""

from pathlib import Path

import fem_prdp.mesh as M

HERE = Path(__file__).resolve().parent
EXAMPLES = {
    "channel_cylinder.msh": ("channel-cylinder", 0.05),
    "cavity.msh": ("cavity", 0.05),
    "l_shape.msh": ("l-shape", 0.1),
    "disk.msh": ("disk", 0.1),
    "box.msh": ("box", 0.25),
}

if __name__ == "__main__":
    for name, (kind, h) in EXAMPLES.items():
        mesh = M.generate(kind, h)
        print(M.write_mesh(mesh, HERE / name), mesh)
