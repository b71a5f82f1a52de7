"""`FunctionSpace`: Lagrange P1/P2 dofs (scalar or vector) on a `Mesh`, with the affine
geometry of every cell computed once.

Dof numbering: scalar P1 dofs are the mesh nodes; P2 adds one dof per mesh edge, numbered
after the nodes in `Mesh.edges()` order. Vector spaces are blocked by component: dof
c * n_scalar_dofs + s is component c of scalar dof s. Periodic boundary pairs identify dofs
and renumber the rest compactly.
"""

from __future__ import annotations

import torch
from scipy.spatial import cKDTree

from ..mesh import Mesh, MeshError
from .element import EDGES, basis, local_dof_points, n_local_dofs

__all__ = ["FunctionSpace"]


class FunctionSpace:
    """Continuous Lagrange space of `degree` 1 or 2 on `mesh`.

    Args:
        mesh: the `Mesh`.
        degree: 1 or 2.
        shape: () for scalar fields, (dim,) for vector fields (velocities).
        periodic: pairs (master, slave) of boundary names whose dofs are identified; the
            slave boundary must be the master translated by a constant vector, with
            matching nodes.
        dtype, device: of the geometry and of everything assembled on this space.

    Attributes:
        cell_dofs: [n_cells, n_local * n_components] int64. Global dofs of each cell.
        n_dofs: number of dofs (all components).
        dof_points: [n_scalar_dofs, dim] float. Coordinates of the scalar dofs.
        jacobians: [n_cells, dim, dim]; det: [n_cells] (positive); inv_jacobians.
    """

    def __init__(
        self,
        mesh: Mesh,
        degree: int = 1,
        shape: tuple[int, ...] = (),
        periodic: list[tuple[str, str]] | None = None,
        dtype: torch.dtype = torch.float64,
        device=None,
    ):
        if degree not in (1, 2):
            raise ValueError(f"FunctionSpace: degree must be 1 or 2, got {degree!r}")
        if shape not in ((), (mesh.dim,)):
            raise ValueError(f"FunctionSpace: shape must be () or ({mesh.dim},), got {shape!r}")
        self.mesh = mesh
        self.degree, self.shape, self.dim = degree, tuple(shape), mesh.dim
        self.dtype, self.device = dtype, torch.device(device or "cpu")
        self.n_components = 1 if shape == () else mesh.dim
        self.n_local = n_local_dofs(mesh.dim, degree)
        raw_cells, raw_points = self._raw_dofs()
        self.periodic = list(periodic or [])
        if self.periodic:
            self._raw_to_dof, keep = self._identify_periodic(raw_points)
            points = raw_points[keep]
        else:
            self._raw_to_dof, points = torch.arange(len(raw_points)), raw_points
        scalar = self._raw_to_dof[raw_cells]
        self.scalar_cell_dofs = scalar.to(self.device)
        self.n_scalar_dofs = int(points.shape[0])
        self.dof_points = points.to(device=self.device, dtype=dtype)
        comps = [self.scalar_cell_dofs + c * self.n_scalar_dofs for c in range(self.n_components)]
        self.cell_dofs = torch.cat(comps, dim=1)
        self.n_dofs = self.n_scalar_dofs * self.n_components
        p = mesh.points.to(device=self.device, dtype=dtype)[mesh.cells.to(self.device)]
        self.jacobians = (p[:, 1:] - p[:, :1]).transpose(1, 2)  # [C, d, d], column k = p_k - p_0
        self.det = torch.linalg.det(self.jacobians)
        if bool((self.det <= 0).any()):
            raise MeshError(f"FunctionSpace: the mesh {mesh.source} has inverted or degenerate cells")
        self.inv_jacobians = torch.linalg.inv(self.jacobians)
        self._cache: dict = {}

    def __repr__(self) -> str:
        kind = "scalar" if self.shape == () else f"vector{self.shape}"
        return f"FunctionSpace(P{self.degree}, {kind}, n_dofs={self.n_dofs}, mesh={self.mesh.source!r})"

    # ------------------------------------------------------------ dof numbering
    def _raw_dofs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Cell dofs and dof points before periodic identification: nodes, then (P2) the
        mesh edges as n_nodes + edge index."""
        mesh = self.mesh
        cells = mesh.cells
        if self.degree == 1:
            return cells.clone(), mesh.points.to(torch.float64)
        edges = mesh.edges()  # [2, E], sorted pairs, sorted rows
        n = mesh.n_nodes
        keys = edges[0] * n + edges[1]
        local = []
        for i, j in EDGES[mesh.dim]:
            a, b = cells[:, i], cells[:, j]
            local.append(torch.searchsorted(keys, torch.minimum(a, b) * n + torch.maximum(a, b)) + n)
        mids = 0.5 * (mesh.points[edges[0]] + mesh.points[edges[1]])
        return torch.cat([cells, torch.stack(local, 1)], dim=1), torch.cat([mesh.points, mids]).to(
            torch.float64
        )

    def _raw_boundary_dofs(self, names) -> torch.Tensor:
        """Raw scalar dofs on the named boundaries: facet nodes and (P2) facet edges."""
        mesh = self.mesh
        facets = mesh.boundary_facets(*names)
        nodes = torch.unique(facets)
        if self.degree == 1 or mesh.dim == 1:
            return nodes
        n = mesh.n_nodes
        edges = mesh.edges()
        keys = edges[0] * n + edges[1]
        pairs = [(a, b) for a in range(facets.shape[1]) for b in range(a + 1, facets.shape[1])]
        k = torch.cat(
            [
                torch.minimum(facets[:, a], facets[:, b]) * n + torch.maximum(facets[:, a], facets[:, b])
                for a, b in pairs
            ]
        )
        return torch.cat([nodes, torch.searchsorted(keys, torch.unique(k)) + n])

    def _identify_periodic(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(raw -> final dof map, raw ids kept as masters)."""
        n = points.shape[0]
        target = torch.arange(n)
        scale = float((points.max(0).values - points.min(0).values).norm())
        for master, slave in self.periodic:
            m_dofs, s_dofs = self._raw_boundary_dofs((master,)), self._raw_boundary_dofs((slave,))
            shift = points[s_dofs].mean(0) - points[m_dofs].mean(0)
            dist, idx = cKDTree(points[m_dofs].numpy()).query((points[s_dofs] - shift).numpy())
            if len(s_dofs) != len(m_dofs) or dist.max() > 1e-8 * scale:
                raise MeshError(
                    f"FunctionSpace: periodic boundaries {master!r} and {slave!r} do not match "
                    f"(max node mismatch {dist.max():.3g} after the shift {shift.tolist()}); "
                    "periodic pairs need translated copies of the same boundary mesh"
                )
            target[s_dofs] = m_dofs[torch.as_tensor(idx)]
        for _ in range(3):  # corners: follow chains slave -> master -> master's master
            target = target[target]
        keep = torch.unique(target)
        new_id = torch.full((n,), -1, dtype=torch.int64)
        new_id[keep] = torch.arange(len(keep))
        return new_id[target], keep

    def boundary_dofs(self, *names: str, component: int | None = None) -> torch.Tensor:
        """[n] int64: dofs on the named boundaries (all tagged boundaries if none named).
        For a vector space: all components, or only `component`. An unknown name raises
        and lists the known ones."""
        key = ("bdofs", names)
        if key not in self._cache:
            self._cache[key] = torch.unique(self._raw_to_dof[self._raw_boundary_dofs(names)]).to(self.device)
        scalar = self._cache[key]
        comps = range(self.n_components) if component is None else [component]
        return torch.cat([scalar + c * self.n_scalar_dofs for c in comps])

    # ----------------------------------------------------------- evaluation
    def reference_basis(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scalar reference basis at reference points: values [L, Q], grads [L, Q, dim]."""
        return basis(points, self.degree)

    def physical_gradients(self, ref_grads: torch.Tensor) -> torch.Tensor:
        """[C, L, Q, dim] physical gradients from reference gradients [L, Q, dim]:
        grad phi = J^-T grad_ref phi."""
        return torch.einsum("lqk,ckd->clqd", ref_grads, self.inv_jacobians)

    def map_points(self, ref_points: torch.Tensor) -> torch.Tensor:
        """[C, Q, dim] physical coordinates of reference points [Q, dim] in every cell."""
        p0 = self.mesh.points.to(device=self.device, dtype=self.dtype)[self.mesh.cells[:, 0].to(self.device)]
        return p0[:, None, :] + torch.einsum("cdk,qk->cqd", self.jacobians, ref_points)

    def interpolate(self, f) -> torch.Tensor:
        """Dof values of f(points [N, dim]) -> [N] (scalar) or [N, dim] (vector), blocked
        by component: shape [n_dofs]."""
        values = torch.as_tensor(f(self.dof_points), dtype=self.dtype, device=self.device)
        if self.n_components == 1:
            return values.reshape(self.n_scalar_dofs)
        return values.reshape(self.n_scalar_dofs, self.n_components).T.reshape(-1)

    def _locate(self, points: torch.Tensor, outside: str = "raise") -> tuple[torch.Tensor, torch.Tensor]:
        """(cell [P], reference coordinates [P, dim]) of each point: barycentric tests on
        the 16 cells with the nearest centroids (a KD-tree, built once), then on every cell
        for the rare point none of them contains, in chunks of bounded memory. A point in
        no cell raises, or with outside="extrapolate" keeps the cell whose smallest
        barycentric coordinate is largest (the cell it is nearest to leaving)."""
        mesh = self.mesh
        p0 = mesh.points.to(device=self.device, dtype=self.dtype)[mesh.cells[:, 0].to(self.device)]
        if not hasattr(self, "_centroid_tree"):
            self._centroid_tree = cKDTree(mesh.points[mesh.cells].mean(1).cpu().numpy())

        def best_of(ref: torch.Tensor, cand: torch.Tensor | None):  # ref [P, K, dim]; cells cand [P, K] or all
            lam_min = torch.minimum(ref.min(-1).values, 1 - ref.sum(-1))
            best = lam_min.argmax(1)
            rows = torch.arange(len(ref), device=ref.device)
            return best if cand is None else cand[rows, best], ref[rows, best], lam_min[rows, best]

        k = min(mesh.n_cells, 16)
        _, near = self._centroid_tree.query(points.detach().cpu().numpy(), k=k)
        near = torch.as_tensor(near, device=self.device).reshape(len(points), k)
        ref = torch.einsum("pkij,pkj->pki", self.inv_jacobians[near], points[:, None, :] - p0[near])
        cells, ref, lam = best_of(ref, near)
        missed = torch.nonzero(lam < -1e-10).reshape(-1)
        chunk = max(1, 2**22 // (mesh.n_cells * mesh.dim))  # [chunk, n_cells, dim] at most 32 MB
        for start in range(0, len(missed), chunk):
            idx = missed[start:start + chunk]
            ref_all = torch.einsum("cij,pcj->pci", self.inv_jacobians, points[idx, None, :] - p0[None])
            cells[idx], ref[idx], lam[idx] = best_of(ref_all, None)
        if outside == "raise" and bool((lam < -1e-10).any()):
            n_out = int((lam < -1e-10).sum())
            raise ValueError(
                f"evaluate: {n_out} of {len(points)} points lie outside the mesh; pass "
                f"outside='extrapolate' to evaluate them from the nearest cell (for example "
                f"between meshes of one curved geometry, whose boundaries differ slightly)"
            )
        return cells, ref

    def evaluate(self, u: torch.Tensor, points: torch.Tensor, outside: str = "raise") -> torch.Tensor:
        """Values of the field with dofs u [..., n_dofs] at physical points [P, dim]:
        [..., P] (scalar) or [..., P, dim] (vector). Points outside the mesh raise, or with
        outside="extrapolate" take the polynomial of the nearest cell."""
        if outside not in ("raise", "extrapolate"):
            raise ValueError(f"evaluate: outside must be 'raise' or 'extrapolate', got {outside!r}")
        points = torch.as_tensor(points, dtype=self.dtype, device=self.device)
        best, ref_pts = self._locate(points, outside)
        vals = basis(ref_pts, self.degree)[0].T  # [P, L]: each point in its own cell, one call
        scalar_dofs = self.scalar_cell_dofs[best]  # [P, L]
        out = []
        for c in range(self.n_components):
            uc = u[..., c * self.n_scalar_dofs : (c + 1) * self.n_scalar_dofs]
            out.append((uc[..., scalar_dofs] * vals).sum(-1))
        return out[0] if self.n_components == 1 else torch.stack(out, -1)

    def evaluate_gradient(self, u: torch.Tensor, points: torch.Tensor, outside: str = "raise") -> torch.Tensor:
        """Gradients of the field with dofs u [..., n_dofs] at physical points [P, dim]:
        [..., P, dim] (scalar) or [..., P, n_components, dim] (vector: row c is the gradient
        of component c), e.g. for stresses along a line. outside: as in `evaluate`."""
        if outside not in ("raise", "extrapolate"):
            raise ValueError(f"evaluate_gradient: outside must be 'raise' or 'extrapolate', got {outside!r}")
        points = torch.as_tensor(points, dtype=self.dtype, device=self.device)
        best, ref_pts = self._locate(points, outside)
        ref_grads = basis(ref_pts, self.degree)[1]  # [L, P, dim]
        grads = torch.einsum("lpk,pkd->pld", ref_grads, self.inv_jacobians[best])  # J^-T grad_ref, [P, L, dim]
        scalar_dofs = self.scalar_cell_dofs[best]  # [P, L]
        out = []
        for c in range(self.n_components):
            uc = u[..., c * self.n_scalar_dofs : (c + 1) * self.n_scalar_dofs]
            out.append(torch.einsum("...pl,pld->...pd", uc[..., scalar_dofs], grads))
        return out[0] if self.n_components == 1 else torch.stack(out, -2)

    def interpolate_from(self, source: FunctionSpace, u: torch.Tensor, outside: str = "raise") -> torch.Tensor:
        """Dofs [..., n_dofs] on this space of the field u [..., source.n_dofs] given on
        `source` (another mesh of the domain, another degree): its values at this space's
        dof points. outside: as in `evaluate`."""
        if source.shape != self.shape:
            raise ValueError(
                f"interpolate_from: value shapes differ (source {source.shape}, target {self.shape})"
            )
        vals = source.evaluate(u, self.dof_points, outside=outside)  # [..., P] or [..., P, dim]
        if self.n_components == 1:
            return vals
        return vals.transpose(-1, -2).reshape(*vals.shape[:-2], self.n_dofs)

    def local_dof_points(self) -> torch.Tensor:
        return local_dof_points(self.dim, self.degree, self.dtype)
