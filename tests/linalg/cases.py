"""Shared test matrices: FEM matrices assembled here by a plain element loop (independent of
fem_prdp.fem), and random ones. All float64."""

import numpy as np
import scipy.sparse as sp
import torch

import fem_prdp.mesh as M
from fem_prdp.linalg import SparseMatrix


def _p1_local(p):
    """Gradients of the P1 hat functions and the area of one triangle p [3, 2]."""
    T = np.array([p[1] - p[0], p[2] - p[0]]).T
    area = abs(np.linalg.det(T)) / 2
    grads = np.linalg.solve(T.T, np.array([[-1.0, 1.0, 0.0], [-1.0, 0.0, 1.0]])).T  # [3, 2]
    return grads, area


def p1_matrices(n=8, velocity=(0.0, 0.0)):
    """P1 stiffness (+ advection with a constant velocity, Galerkin) on a uniform unit square,
    Dirichlet rows of the boundary removed. Returns a scipy CSR matrix."""
    mesh = M.uniform_rectangle(n)
    pts, cells = mesh.points.numpy(), mesh.cells.numpy()
    N = mesh.n_nodes
    K = np.zeros((N, N))
    for c in cells:
        grads, area = _p1_local(pts[c])
        local = area * grads @ grads.T + area / 3 * np.outer(np.ones(3), grads @ np.asarray(velocity))
        K[np.ix_(c, c)] += local
    interior = np.setdiff1d(np.arange(N), mesh.boundary_nodes().numpy())
    return sp.csr_matrix(K[np.ix_(interior, interior)])


def saddle_point(n=6, seed=0):
    """[[K, B^T], [B, 0]] with K an SPD stiffness and B a full-rank constraint block."""
    K = p1_matrices(n).toarray()
    rng = np.random.default_rng(seed)
    m = K.shape[0] // 3
    B = rng.standard_normal((m, K.shape[0]))
    S = np.block([[K, B.T], [B, np.zeros((m, m))]])
    return sp.csr_matrix(S), K.shape[0]


def random_spd(n=20, seed=0):
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((n, n)) * (rng.random((n, n)) < 0.3)
    return sp.csr_matrix(Q @ Q.T + n * np.eye(n))


def random_nonsymmetric(n=20, seed=0):
    rng = np.random.default_rng(seed)
    R = rng.standard_normal((n, n)) * (rng.random((n, n)) < 0.3)
    return sp.csr_matrix(R + 2 * n**0.5 * np.eye(n))


# name -> (scipy matrix, kind) with kind in {"spd", "nonsymmetric", "saddle"}
MATRICES = {
    "fem_stiffness": (p1_matrices(8), "spd"),
    "fem_advection_diffusion": (p1_matrices(8, velocity=(20.0, 10.0)), "nonsymmetric"),
    "saddle_point": (saddle_point(6)[0], "saddle"),
    "random_spd": (random_spd(), "spd"),
    "random_nonsymmetric": (random_nonsymmetric(), "nonsymmetric"),
}

# Which solvers apply to which kind of matrix.
SOLVERS_FOR = {
    "spd": ("cg", "minres", "gmres", "bicgstab"),
    "nonsymmetric": ("gmres", "bicgstab"),
    "saddle": ("minres", "gmres"),
}


def as_sparse(name):
    return SparseMatrix.from_scipy(MATRICES[name][0], dtype=torch.float64)
