"""``manifest.json`` of an exported market folder, as one typed record: written by
:func:`feeds.export.export_market`, read by :func:`feeds.csv_feed.csv_market` to restore the
market exactly (provenance, fill model, column types and names).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SqueezeLabError

#: Version of the exported folder layout (``manifest.json`` -> ``format``).
EXPORT_FORMAT = 1
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    """What an export records beyond the CSV files: provenance and exact column types.

    ``provenance`` is :meth:`Market.provenance` as written (source, synthetic, seed, fill_model,
    notes, dates, ... at the top level of the JSON, kept in order).
    """

    provenance: dict[str, Any]
    files: list[str] = field(default_factory=list)
    attribute_dtypes: dict[str, str] = field(default_factory=dict)
    attributes_index_name: str | None = None
    columns_name: str | None = None
    reference_columns: list[str] = field(default_factory=list)
    format: int = EXPORT_FORMAT
    #: the market's ``suspicious`` policy ("keep": its suspicious moves were kept on purpose)
    suspicious: str = "stop"

    # -------------------------------------------------------------- provenance fields
    @property
    def source(self) -> str:
        return str(self.provenance.get("source", "?"))

    @property
    def synthetic(self) -> bool:
        return bool(self.provenance.get("synthetic", False))

    @property
    def seed(self) -> int | None:
        seed = self.provenance.get("seed")
        return seed if isinstance(seed, int) and not isinstance(seed, bool) else None

    @property
    def raw_seed(self) -> Any:
        return self.provenance.get("seed")

    @property
    def fill_model(self) -> str | None:
        fm = self.provenance.get("fill_model")
        return fm if isinstance(fm, str) else None

    @property
    def notes(self) -> list[str]:
        return [str(n) for n in (self.provenance.get("notes") or [])]

    # -------------------------------------------------------------- JSON
    def to_json(self) -> str:
        data = {
            "format": self.format,
            "written_by": "squeeze-lab export_market",
            **self.provenance,
            "files": list(self.files),
            "attribute_dtypes": dict(self.attribute_dtypes),
            "attributes_index_name": self.attributes_index_name,
            "columns_name": self.columns_name,
            "reference_columns": list(self.reference_columns),
            **({"suspicious": self.suspicious} if self.suspicious != "stop" else {}),
        }
        return json.dumps(data, indent=1, default=str) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        own = {"format", "written_by", "files", "attribute_dtypes", "attributes_index_name",
               "columns_name", "reference_columns", "suspicious"}
        dtypes = data.get("attribute_dtypes")
        return cls(
            provenance={k: v for k, v in data.items() if k not in own},
            files=[str(f) for f in data.get("files") or []],
            attribute_dtypes={str(k): str(v) for k, v in dtypes.items()}
            if isinstance(dtypes, dict) else {},
            attributes_index_name=data.get("attributes_index_name"),
            columns_name=data.get("columns_name"),
            reference_columns=[str(c) for c in data.get("reference_columns") or []],
            format=data.get("format", EXPORT_FORMAT),
            suspicious="keep" if data.get("suspicious") == "keep" else "stop",
        )

    @classmethod
    def read(cls, folder: Path | None) -> Manifest | None:
        """The folder's manifest, or None when there is none; a broken one is an error."""
        if folder is None:
            return None
        p = folder / MANIFEST_NAME
        if not p.is_file():
            return None
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise SqueezeLabError(f"{p}: not valid JSON ({type(err).__name__}): fix or delete the "
                                  "manifest") from err
        if not isinstance(data, dict):
            raise SqueezeLabError(f"{p}: not a JSON object: fix or delete the manifest")
        _check_types(p, data)
        return cls.from_dict(data) if data else None


#: Types of the manifest.json keys the reader uses (a wrong type is refused by name).
MANIFEST_TYPES: dict[str, tuple[type, ...]] = {
    "synthetic": (bool,), "seed": (int, type(None)), "source": (str,),
    "fill_model": (str, type(None)), "columns_name": (str, type(None)),
    "attributes_index_name": (str, type(None)), "notes": (list, type(None)),
    "files": (list,), "reference_columns": (list,), "attribute_dtypes": (dict, type(None)),
    "suspicious": (str,),
}


def _check_types(p: Path, data: dict[str, Any]) -> None:
    """Each key the reader uses has its type, or one line naming the key."""
    for key, kinds in MANIFEST_TYPES.items():
        if key in data and not isinstance(data[key], kinds):
            names = "/".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise SqueezeLabError(f"{p}: {key} is {type(data[key]).__name__}, not {names}: fix or "
                                  "delete the manifest")
    for key in ("notes", "files", "reference_columns"):
        if not all(isinstance(x, str) for x in data.get(key) or []):
            raise SqueezeLabError(f"{p}: {key} must be a list of text: fix or delete the manifest")
    if not all(isinstance(v, str) for v in (data.get("attribute_dtypes") or {}).values()):
        raise SqueezeLabError(f"{p}: attribute_dtypes must map columns to dtype names: fix or "
                              "delete the manifest")
