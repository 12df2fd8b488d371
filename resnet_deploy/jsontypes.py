"""The one name for JSON at the edge of the program.

Data that has a record travels as that record; `JsonObject` is what a record's `to_dict()`
gives, what a pydantic serializer returns, and what is read back from a JSON file before it
is validated into a record. Spelling it so (instead of a bare dict of anything) says which
dicts are JSON on purpose.
"""

from __future__ import annotations

from typing import Any, TypeAlias

JsonObject: TypeAlias = dict[str, Any]
