"""Observed orders under refinement: P1 L2 2 / H1 1, P2 L2 3 / H1 2 (within 0.15), for
Dirichlet, Neumann, Robin and periodic problems, in 1D, 2D and 3D, on uniform special
meshes and gmsh unstructured meshes. One run of the same table `fem-prdp verify
convergence` prints."""

import pytest

from fem_prdp.fem.verify import BC_KINDS, verify_convergence


@pytest.fixture(scope="module")
def table():
    return verify_convergence()


def test_every_row_has_the_expected_orders(table):
    bad = [
        f"{r['dim']}D {r['mesh']} {r['bc']} P{r['degree']}: L2 {r['l2_order']:.2f} H1 {r['h1_order']:.2f}"
        for r in table["rows"]
        if not r["ok"]
    ]
    assert not bad, "\n".join(bad)


def test_table_covers_dims_meshes_degrees_and_conditions(table):
    seen = {(r["dim"], r["mesh"], r["bc"], r["degree"]) for r in table["rows"]}
    for dim in (1, 2, 3):
        for p in (1, 2):
            for bc in BC_KINDS:
                assert (dim, "uniform", bc, p) in seen
                if bc != "periodic":
                    assert (dim, "gmsh", bc, p) in seen
    for r in table["rows"]:  # errors really decrease with h
        assert r["l2_errors"][0] > r["l2_errors"][1] > r["l2_errors"][2]
