"""Imports flow one way: mesh, linalg -> fem -> physics -> learn -> viz -> cli; prdp stands alone."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "fem_prdp"
# Which project layers each layer may import.
ALLOWED = {
    "mesh": set(),
    "linalg": set(),
    "prdp": set(),
    "fem": {"mesh", "linalg"},
    "physics": {"mesh", "linalg", "fem"},
    "learn": {"mesh", "linalg", "fem", "physics", "prdp"},
    "viz": {"mesh", "linalg", "fem", "physics", "learn", "prdp"},
}


# Top-level private helpers (fem_prdp/_*.py) hold no layer logic and may be used by any layer.
SHARED = {p.stem for p in PKG.glob("_*.py") if p.stem != "__init__"}


def _project_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    layer_parts = path.relative_to(PKG).parts
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = list(layer_parts[:-1])[: len(layer_parts) - node.level]
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.startswith("fem_prdp"):
                target = node.module.split(".")[1:]
            else:
                continue
            if target:
                found.add(target[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("fem_prdp."):
                    found.add(alias.name.split(".")[1])
    return found


def test_layers_import_only_downward():
    violations = []
    for layer, allowed in ALLOWED.items():
        for path in (PKG / layer).rglob("*.py") if (PKG / layer).exists() else []:
            bad = _project_imports(path) - allowed - {layer} - SHARED
            if bad:
                violations.append(f"{path.relative_to(PKG)} imports {sorted(bad)}")
    assert not violations, "\n".join(violations)
