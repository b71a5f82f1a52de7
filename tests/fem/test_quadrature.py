import itertools
from math import factorial

import numpy as np
import pytest

from fem_prdp.fem import quadrature


@pytest.mark.parametrize("dim", [1, 2, 3])
@pytest.mark.parametrize("degree", range(0, 9))
def test_rule_integrates_every_monomial_of_its_degree_exactly(dim, degree):
    q = quadrature(dim, degree)
    assert (q.weights_np > 0).all()
    assert (q.points_np >= 0).all() and (q.points_np.sum(1) <= 1 + 1e-14).all()
    for e in itertools.product(range(degree + 1), repeat=dim):
        if sum(e) > degree:
            continue
        # integral of x^a y^b z^c over the reference simplex: a! b! c! / (a + b + c + dim)!
        exact = np.prod([factorial(k) for k in e]) / factorial(sum(e) + dim)
        numeric = (q.weights_np * np.prod(q.points_np ** np.array(e), axis=1)).sum()
        assert numeric == pytest.approx(exact, rel=1e-13)


def test_bad_arguments():
    with pytest.raises(ValueError, match="dim must be 1, 2 or 3"):
        quadrature(4, 1)
    with pytest.raises(ValueError, match="degree must be >= 0"):
        quadrature(2, -1)
