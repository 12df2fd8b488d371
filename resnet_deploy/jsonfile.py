"""Read every JSON file the project consumes into a typed pydantic model, or refuse it in
one line.

Sidecars, calibration caches, bench results and plan reports are written by this project
but can be hand-edited, truncated or come from another version. A reader that indexes a
`dict[str, Any]` by strings fails deep inside with a KeyError or TypeError; a pydantic model
fails at the door with the location of the first bad field.

Why pydantic v2 rather than msgspec: both validate fast enough for files this small; pydantic
is the validation library most Python engineers already know, its errors carry the field
location (`layers.3.precision: Input should be a valid string`), and models can keep
unknown fields (`extra="allow"`) so a newer writer's additions survive a rewrite by an older
reader.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from resnet_deploy.errors import ArtifactError

Model = TypeVar("Model", bound=BaseModel)


def first_problem(error: ValidationError) -> str:
    """`loc: message` of the first validation error, plus how many more there are."""
    problems = error.errors(include_url=False)
    first = problems[0]
    location = ".".join(str(part) for part in first["loc"]) or "top level"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{location}: {first['msg']}{more}"


def parse_json(data: str | bytes, model: type[Model], *, what: str) -> Model:
    """Validate JSON text against `model`; ArtifactError naming `what` and the first problem."""
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise ArtifactError(f"{what} is not valid JSON ({first['msg']}); rebuild or restore it") from exc
        raise ArtifactError(f"{what} is not valid: {first_problem(exc)}") from exc


def read_json_model(path: str | os.PathLike[str], model: type[Model], *, what: str) -> Model:
    """Read `path` and validate it against `model`. A missing, unreadable, non-JSON or
    invalid file is one ArtifactError line naming the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ArtifactError(f"{what} '{path}' does not exist") from exc
    except OSError as exc:
        raise ArtifactError(f"cannot read {what} '{path}': {exc.strerror or exc}") from exc
    return parse_json(data, model, what=f"{what} '{path}'")


def dumps_json(data: Any) -> str:
    """The project's JSON text: indented, anything else (paths, dates) as its string, with a
    final newline. Written atomically by atomic.write_json."""
    return json.dumps(data, indent=2, default=str) + "\n"


def loads_json(text: str | bytes, *, what: str) -> Any:
    """JSON text carried inside an artifact (ONNX metadata, a safetensors header), or
    ArtifactError naming `what`. Files are read with read_json_model into a typed record."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{what} is not valid JSON ({exc}); rebuild or restore it") from exc
