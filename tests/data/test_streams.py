"""Data streams: labs of different streams draw independent data; every atom has its own stream
unless it names a shared protocol."""
from __future__ import annotations


from deepatoms import registry
from deepatoms.lab import Lab


def test_labs_of_different_streams_draw_independent_data():
    a, b = Lab([0], stream="initialization"), Lab([0], stream="loss-functions")
    assert a.numpy_rng(0, "data").random() != b.numpy_rng(0, "data").random()
    same = Lab([0], stream="initialization")
    assert a.numpy_rng(0, "data").random() == same.numpy_rng(0, "data").random()
    ga, gs = a.torch_generator(0, "init"), same.torch_generator(0, "init")
    assert ga.initial_seed() == gs.initial_seed() != b.torch_generator(0, "init").initial_seed()


def test_every_atom_has_its_own_stream_unless_it_names_a_shared_protocol():
    atoms = registry.all_atoms().values()
    streams: dict[str, list[str]] = {}
    for atom in atoms:
        streams.setdefault(atom.stream, []).append(atom.name)
    for stream, names in streams.items():
        if len(names) > 1:  # shared on purpose ("same data as X"): X owns it, the others name it
            assert stream in names, (stream, names)
            assert all(registry.get(n).data_stream == stream for n in names if n != stream), names
    assert streams["loss-functions"] == ["initialization", "loss-functions"]  # CATALOG §10
    assert sorted(streams["layer-convergence"]) == ["layer-convergence", "weight-regularization"]
