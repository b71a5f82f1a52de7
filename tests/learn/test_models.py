"""Surrogates: graph conversion, GNN shapes, permutation equivariance, other meshes,
MLP shapes, normalisation."""

import pytest
import torch
from torch_geometric.data import Batch

import fem_prdp.mesh as M
from fem_prdp.learn import FieldMLP, MeshGraphNet, Normalizer, add_noise, mesh_to_graph


def _graph(mesh, x):
    g = mesh_to_graph(mesh, x=x)
    g.x = torch.cat([g.x, g.node_type], dim=1)
    return g


def test_mesh_to_graph_edges_features_and_types():
    mesh = M.uniform_rectangle(3)
    g = mesh_to_graph(mesh)
    n_edges = mesh.edges().shape[1]
    assert g.edge_index.shape == (2, 2 * n_edges) and g.edge_attr.shape == (2 * n_edges, 3)
    src, dst = g.edge_index
    assert torch.allclose(g.edge_attr[:, :2], mesh.points[dst] - mesh.points[src])
    assert torch.allclose(g.edge_attr[:, 2], (mesh.points[dst] - mesh.points[src]).norm(dim=1))
    assert g.node_type.shape == (16, 5) and torch.equal(g.node_type.sum(1), torch.ones(16, dtype=g.node_type.dtype))
    assert int(g.node_type[:, 0].sum()) == 4  # interior nodes of a 4x4 grid
    with pytest.raises(ValueError, match="expected n_nodes = 16"):
        mesh_to_graph(mesh, x=torch.zeros(3, 1))


def _permuted(mesh, perm):
    """The same mesh with node i renumbered as inv[i]: points[inv[i]] = old points[i]."""
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(len(perm))
    return M.Mesh(mesh.points[perm], inv[mesh.cells], inv[mesh.facets], mesh.facet_tags, dict(mesh.boundaries)), inv


def test_gnn_is_equivariant_to_node_renumbering():
    torch.manual_seed(0)
    mesh = M.disk(h=0.3)
    x = torch.rand(mesh.n_nodes, 2, dtype=torch.float64)
    net = MeshGraphNet(2 + 2, 3, 2, width=16, steps=3).double()
    out = net(_graph(mesh, x))
    perm = torch.randperm(mesh.n_nodes)
    pmesh, inv = _permuted(mesh, perm)
    pout = net(_graph(pmesh, x[perm]))
    assert torch.allclose(pout, out[perm], atol=1e-12)


def test_gnn_runs_on_two_meshes_and_in_a_batch():
    mesh_a, mesh_b = M.channel_cylinder(h=0.1), M.channel_cylinder(h=0.15)
    net = MeshGraphNet(1 + 5, 3, 1, width=8, steps=2).double()
    ga = _graph(mesh_a, torch.rand(mesh_a.n_nodes, 1, dtype=torch.float64))
    gb = _graph(mesh_b, torch.rand(mesh_b.n_nodes, 1, dtype=torch.float64))
    batch = Batch.from_data_list([ga, gb])
    out = net(batch)
    assert out.shape == (mesh_a.n_nodes + mesh_b.n_nodes, 1)
    assert torch.allclose(out[: mesh_a.n_nodes], net(ga), atol=1e-12)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_field_mlp_shapes():
    net = FieldMLP(30, width=64, depth=3)  # the paper's 1D heat surrogate
    assert net(torch.rand(25, 30)).shape == (25, 30)
    assert sum(p.numel() for p in net.parameters()) == 30 * 64 + 64 + 2 * (64 * 64 + 64) + 64 * 30 + 30


def test_normalizer_accumulates_then_freezes_and_inverts():
    norm = Normalizer(2, max_updates=2)
    a = torch.tensor([[1.0, 10.0], [3.0, 30.0]])
    norm.update(a)
    norm.update(a)
    norm.update(100 * a)  # ignored: frozen after two updates
    y = norm(a)
    assert torch.allclose(y.mean(0), torch.zeros(2), atol=1e-6) and torch.allclose(norm.inverse(y), a)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(add_noise(a, 0.0), a) and not torch.equal(add_noise(a, 0.1, g), a)


def test_graph_field_model_maps_batches_of_fields_equivariantly():
    from fem_prdp.learn import GraphFieldModel

    torch.manual_seed(0)
    mesh = M.disk(h=0.4)
    model = GraphFieldModel(mesh_to_graph(mesh), width=8, steps=2).double()
    u = torch.rand(3, mesh.n_nodes, dtype=torch.float64)
    out = model(u)
    assert out.shape == (3, mesh.n_nodes)
    assert torch.allclose(out[1], model(u[1]), atol=1e-12)
    perm = torch.randperm(mesh.n_nodes)
    pmesh, _ = _permuted(mesh, perm)
    pmodel = GraphFieldModel(mesh_to_graph(pmesh), width=8, steps=2).double()
    pmodel.load_state_dict(model.state_dict())
    assert torch.allclose(pmodel(u[:, perm]), out[:, perm], atol=1e-12)


def test_graph_field_model_normalises_and_adds_noise_only_in_training():
    from fem_prdp.learn import GraphFieldModel

    torch.manual_seed(0)
    mesh = M.uniform_rectangle(3)
    model = GraphFieldModel(mesh_to_graph(mesh), width=8, steps=1, normalize=True, noise_std=0.1).double()
    u = 100.0 + 5.0 * torch.rand(2, mesh.n_nodes, dtype=torch.float64)
    model.train()
    a, b = model(u), model(u)
    assert not torch.allclose(a, b)  # training noise
    assert float(model.normalizer.sum[0] / model.normalizer.count) == pytest.approx(float(u.mean()), rel=1e-2)
    model.eval()
    assert torch.equal(model(u), model(u))  # no noise at evaluation
    state = model.state_dict()
    assert "normalizer.sum" in state  # statistics travel with checkpoints


def _undirected(edge_index):
    return {tuple(sorted(e)) for e in edge_index.t().tolist()}


def test_space_to_graph_is_the_mesh_graph_for_p1_and_connects_cell_dofs_for_p2():
    from fem_prdp.fem import FunctionSpace
    from fem_prdp.learn import space_to_graph

    mesh = M.uniform_rectangle(3)
    p1, g = space_to_graph(FunctionSpace(mesh, 1)), mesh_to_graph(mesh)
    assert _undirected(p1.edge_index) == _undirected(g.edge_index) and p1.edge_index.shape == g.edge_index.shape
    assert torch.equal(p1.node_type, g.node_type) and torch.equal(p1.pos, g.pos)

    V = FunctionSpace(mesh, 2)
    p2 = space_to_graph(V)
    cells = V.scalar_cell_dofs.tolist()
    expected = {tuple(sorted((a, b))) for c in cells for a in c for b in c if a != b}
    assert p2.num_nodes == V.n_scalar_dofs and _undirected(p2.edge_index) == expected
    src, dst = p2.edge_index
    assert torch.allclose(p2.edge_attr[:, :2], V.dof_points[dst] - V.dof_points[src])
    # every boundary dof (vertices and edge midpoints) is typed by one of its boundaries
    for k, name in enumerate(sorted(mesh.boundaries)):
        typed = set(torch.nonzero(p2.node_type[:, k + 1]).flatten().tolist())
        assert typed and typed <= set(V.boundary_dofs(name).tolist())
    assert int(p2.node_type[:, 0].sum()) == V.n_scalar_dofs - len(V.boundary_dofs())
    with pytest.raises(ValueError, match="periodic spaces are not supported"):
        space_to_graph(FunctionSpace(mesh, 1, periodic=[("left", "right")]))


def test_graph_field_model_reads_several_values_per_node_component_major():
    from fem_prdp.learn import GraphFieldModel

    torch.manual_seed(0)
    mesh = M.disk(h=0.4)
    n = mesh.n_nodes
    # No message passing: a node's output depends on its own values only, so a change to
    # value c of node i (index c * n + i) may move indices i and n + i and nothing else.
    model = GraphFieldModel(mesh_to_graph(mesh), width=8, steps=0, channels=2, residual=False).double()
    u = torch.rand(3, 2 * n, dtype=torch.float64)
    out = model(u)
    assert out.shape == (3, 2 * n)
    bumped = u.clone()
    bumped[:, n + 5] += 1.0
    moved = (model(bumped) - out).abs().amax(0) > 0
    assert set(torch.nonzero(moved).flatten().tolist()) == {5, n + 5}
    with pytest.raises(ValueError, match=f"{n} nodes x 2 channels = {2 * n}"):
        model(torch.rand(1, n, dtype=torch.float64))
