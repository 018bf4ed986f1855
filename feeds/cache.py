"""On-disk price cache for downloaded daily bars: one parquet file per symbol plus a checksum sidecar.

Layout under the cache root (``cache_root()``: the argument, else ``$SQUEEZE_LAB_CACHE``, else
``platformdirs.user_cache_dir("squeeze-lab")``)::

    prices/1d-adjusted/AAPL.parquet        date-indexed float64 open, high, low, close, volume
    prices/1d-adjusted/AAPL.parquet.json   {"format", "symbol", "sha256", "size", "start", "end", "rows"}
    info/AAPL.json (+ .sha256 sidecar)     Yahoo ``Ticker.info`` fields (attributes="yahoo")
    yfinance/                              yfinance's own timezone/cookie caches

``start``/``end`` in the sidecar are the *requested* range the file covers (inclusive), not the
first/last bar: a name that listed inside the range, or a holiday at either end, must not make the
next run download again. Every file is written to a temporary sibling and moved into place with
``os.replace``; the sidecar is written after the data file, so an interrupted write shows up as a
checksum mismatch on the next read. A file whose checksum does not match, that cannot be read, or
that has the wrong columns is never used: :meth:`PriceCache.load` reports it (one line) and the
caller downloads it again.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import SqueezeLabError
from .market import normalize_index

#: Environment variable that moves the cache (the ``cache_dir`` argument wins over it).
CACHE_ENV = "SQUEEZE_LAB_CACHE"
#: Columns of a cached price file, in order.
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
#: Bumped when the on-disk layout changes; files of another format are downloaded again.
CACHE_FORMAT = 1
_PRICE_DIR = Path("prices") / "1d-adjusted"
_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_")


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: ``cache_dir`` if given, else ``$SQUEEZE_LAB_CACHE``, else the user cache dir."""
    if cache_dir is not None and str(cache_dir) != "":
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("squeeze-lab"))


def configure_yfinance_cache(root: str | os.PathLike[str]) -> Path:
    """Point yfinance's own timezone/cookie caches at ``<root>/yfinance`` and return that folder."""
    import yfinance as yf

    folder = Path(root) / "yfinance"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SqueezeLabError(
            f"cannot create the cache folder {folder} ({err.strerror}): "
            f"pass --cache-dir or set {CACHE_ENV} to a writable folder"
        ) from err
    yf.set_tz_cache_location(str(folder))
    return folder


def safe_name(symbol: str) -> str:
    """A file-name-safe spelling of a symbol (``^GSPC`` -> ``%5EGSPC``), reversible and case-kept."""
    return "".join(c if c in _SAFE else f"%{ord(c):02X}" for c in str(symbol))


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and ``os.replace`` (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@dataclass(frozen=True)
class CacheEntry:
    """A verified cached price file: bars (date-indexed, float64) and the requested range it covers."""

    symbol: str
    frame: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp

    def covers(self, start: pd.Timestamp, end: pd.Timestamp) -> bool:
        """True when ``[start, end]`` lies inside the covered range."""
        return self.start <= start and end <= self.end


def missing_segments(
    cov_start: pd.Timestamp | None, cov_end: pd.Timestamp | None,
    start: pd.Timestamp, end: pd.Timestamp,
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Parts of ``[start, end]`` (inclusive days) not inside ``[cov_start, cov_end]``: before and/or after.

    A request that does not touch the covered range at all gives the whole request plus the days in
    between, so the cached range stays one contiguous block.
    """
    if cov_start is None or cov_end is None:
        return [(start, end)]
    day = pd.Timedelta(days=1)
    out = []
    if start < cov_start:
        out.append((start, cov_start - day))
    if end > cov_end:
        out.append((cov_end + day, end))
    return out


def empty_bars() -> pd.DataFrame:
    """A bar frame with no rows, in the cache's column layout."""
    return pd.DataFrame(
        {c: pd.Series(dtype=np.float64) for c in PRICE_COLUMNS},
        index=normalize_index(pd.DatetimeIndex([])),
    )


class PriceCache:
    """Per-symbol parquet files with sha256 sidecars under ``<root>/prices/1d-adjusted``."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = cache_root(root)
        self.folder = self.root / _PRICE_DIR
        self.info_folder = self.root / "info"

    # ------------------------------------------------------------------ paths
    def path_for(self, symbol: str) -> Path:
        """The parquet file of ``symbol``."""
        return self.folder / f"{safe_name(symbol)}.parquet"

    def sidecar_for(self, symbol: str) -> Path:
        """The checksum sidecar of ``symbol``'s parquet file."""
        p = self.path_for(symbol)
        return p.with_name(p.name + ".json")

    # ------------------------------------------------------------------ prices
    def load(self, symbol: str) -> tuple[CacheEntry | None, str | None]:
        """The verified cached bars of ``symbol``, or ``(None, warning)`` when a file is unusable.

        ``(None, None)`` means nothing is cached. A warning is one line naming the file and saying it
        will be downloaded again; the bad file is never returned.
        """
        path, side = self.path_for(symbol), self.sidecar_for(symbol)
        if not path.exists() and not side.exists():
            return None, None
        try:
            raw = path.read_bytes()
        except OSError as err:
            return None, f"cache file {path} could not be read ({err.strerror}); downloaded again"
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
            if not isinstance(meta, dict):
                raise ValueError("sidecar is not a JSON object")
            expected = str(meta["sha256"])
            start, end = pd.Timestamp(meta["start"]), pd.Timestamp(meta["end"])
            fmt = int(meta.get("format", 0))
        except (OSError, ValueError, KeyError, TypeError) as err:
            kind = "missing" if not side.exists() else f"unreadable ({type(err).__name__})"
            return None, f"cache file {path} has a {kind} checksum sidecar; downloaded again"
        if fmt != CACHE_FORMAT:
            return None, f"cache file {path} is in an old format ({fmt}); downloaded again"
        if sha256_bytes(raw) != expected:
            return None, f"cache file {path} was corrupt (checksum mismatch); downloaded again"
        try:
            frame = pd.read_parquet(io.BytesIO(raw), engine="pyarrow")
        except Exception as err:  # noqa: BLE001 - any reader failure means the file is unusable
            return None, f"cache file {path} could not be parsed ({type(err).__name__}); downloaded again"
        if tuple(frame.columns) != PRICE_COLUMNS or not isinstance(frame.index, pd.DatetimeIndex):
            return None, f"cache file {path} has unexpected columns; downloaded again"
        frame = frame.astype(np.float64)
        frame.index = normalize_index(frame.index)
        return CacheEntry(symbol, frame, start.normalize(), end.normalize()), None

    def store(self, symbol: str, frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> Path:
        """Write ``symbol``'s bars covering the requested range ``[start, end]`` (data, then sidecar)."""
        out = frame.loc[:, list(PRICE_COLUMNS)].astype(np.float64)
        out.index = normalize_index(out.index)
        out = out.sort_index()
        buf = io.BytesIO()
        out.to_parquet(buf, engine="pyarrow", index=True)
        raw = buf.getvalue()
        path = self.path_for(symbol)
        try:
            atomic_write_bytes(path, raw)
            meta: dict[str, Any] = {
                "format": CACHE_FORMAT,
                "symbol": symbol,
                "file": path.name,
                "sha256": sha256_bytes(raw),
                "size": len(raw),
                "start": pd.Timestamp(start).strftime("%Y-%m-%d"),
                "end": pd.Timestamp(end).strftime("%Y-%m-%d"),
                "rows": int(len(out)),
            }
            atomic_write_bytes(self.sidecar_for(symbol), json.dumps(meta, indent=1).encode())
        except OSError as err:
            raise SqueezeLabError(
                f"cannot write the cache file {path} ({err.strerror}): "
                f"pass --cache-dir or set {CACHE_ENV} to a writable folder"
            ) from err
        return path

    # ------------------------------------------------------------------ info
    def load_info(self, symbol: str) -> tuple[dict[str, Any] | None, str | None]:
        """Cached ``Ticker.info`` fields of ``symbol`` (``{"fetched": date, "info": {...}}``), verified."""
        path = self.info_folder / f"{safe_name(symbol)}.json"
        side = path.with_name(path.name + ".sha256")
        if not path.exists():
            return None, None
        try:
            raw = path.read_bytes()
            expected = side.read_text(encoding="utf-8").split()[0]
        except (OSError, IndexError):
            return None, f"cache file {path} has no readable checksum; fetched again"
        if sha256_bytes(raw) != expected:
            return None, f"cache file {path} was corrupt (checksum mismatch); fetched again"
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None, f"cache file {path} could not be parsed; fetched again"
        if not isinstance(data, dict) or not isinstance(data.get("info"), dict):
            return None, f"cache file {path} has unexpected content; fetched again"
        return data, None

    def store_info(self, symbol: str, info: dict[str, Any], fetched: str) -> None:
        """Write the kept ``Ticker.info`` fields of ``symbol`` with the date they were fetched."""
        path = self.info_folder / f"{safe_name(symbol)}.json"
        raw = json.dumps({"symbol": symbol, "fetched": fetched, "info": info}, sort_keys=True).encode()
        try:
            atomic_write_bytes(path, raw)
            atomic_write_bytes(path.with_name(path.name + ".sha256"),
                               f"{sha256_bytes(raw)}  {path.name}\n".encode())
        except OSError as err:
            raise SqueezeLabError(
                f"cannot write the cache file {path} ({err.strerror}): "
                f"pass --cache-dir or set {CACHE_ENV} to a writable folder"
            ) from err
