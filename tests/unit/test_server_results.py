"""Every server entry point declares the shape of its answer (deploytasks.server.results), and each shape resolves."""
import typing

import pytest

from deploytasks.server import entries, results

SHAPES = [value for value in vars(results).values()
          if isinstance(value, type) and value.__module__ == results.__name__]


@pytest.mark.parametrize("name", sorted(entries.ENTRIES))
def test_each_entry_declares_a_result_shape_from_the_results_module(name):
    function = entries.resolve(name)
    if name == "fleet_step":  # one function per action, each annotated
        from deploytasks.server import fleet_step

        functions = list(fleet_step.ACTIONS.values())
    elif name == "server_admin":
        from deploytasks.server import server_admin

        functions = list(server_admin.ACTIONS.values())
    else:
        functions = [function]
    for each in functions:
        shape = typing.get_type_hints(each).get("return")
        assert shape is not None, "%s (%s) has no return annotation" % (name, each.__qualname__)
        kinds = typing.get_args(shape) or (shape,)
        assert any(kind in SHAPES for kind in kinds), "%s answers %r, not a shape of results.py" % (name, shape)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: shape.__name__)
def test_every_shape_names_its_keys_with_resolvable_types(shape):
    hints = typing.get_type_hints(shape)
    assert hints, shape.__name__
