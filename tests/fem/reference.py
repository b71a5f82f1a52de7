"""Independent dense, loop-based element assembly for the tests: basis functions from a
Vandermonde inversion in physical coordinates (not fem_prdp's barycentric formulas)."""

import itertools

import numpy as np


def _exponents(dim, degree):
    return [e for e in itertools.product(range(degree + 1), repeat=dim) if sum(e) <= degree]


def _mono(x, exps):
    return np.array([np.prod(x ** np.array(e)) for e in exps])


def _mono_grad(x, exps):
    out = np.zeros((len(exps), len(x)))
    for i, e in enumerate(exps):
        for k in range(len(x)):
            if e[k] > 0:
                ek = list(e)
                ek[k] -= 1
                out[i, k] = e[k] * np.prod(x ** np.array(ek))
    return out


def dense_matrix(space, kind, coef=None, velocity=None, qdeg=None):
    """Dense [n, n] matrix of `kind` in {"mass", "stiffness", "advection"} by a cell loop.
    coef: per-cell array (rho or kappa); velocity: callable x -> [dim]."""
    from fem_prdp.fem import quadrature

    mesh = space.mesh
    d = mesh.dim
    exps = _exponents(d, space.degree)
    q = quadrature(d, qdeg if qdeg is not None else 2 * space.degree + 1)
    pts = mesh.points.numpy()
    dof_pts = space.dof_points.numpy()
    A = np.zeros((space.n_dofs, space.n_dofs))
    for c, cell in enumerate(mesh.cells.numpy()):
        dofs = space.scalar_cell_dofs[c].numpy()
        V = np.array([_mono(dof_pts[k], exps) for k in dofs])
        C = np.linalg.inv(V)  # phi_i(x) = mono(x) @ C[:, i]
        p0 = pts[cell[0]]
        J = (pts[cell[1:]] - p0).T
        det = abs(np.linalg.det(J))
        k = 1.0 if coef is None else coef[c]
        for xr, w in zip(q.points_np, q.weights_np, strict=True):
            x = p0 + J @ xr
            phi = _mono(x, exps) @ C
            dphi = (_mono_grad(x, exps).T @ C).T  # [L, d]
            if kind == "mass":
                loc = k * np.outer(phi, phi)
            elif kind == "stiffness":
                loc = k * dphi @ dphi.T
            else:
                loc = np.outer(phi, dphi @ np.asarray(velocity(x)))
            A[np.ix_(dofs, dofs)] += w * det * loc
    return A
