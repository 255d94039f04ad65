"""The input normalisation setting: how a frame's values become the network's 0..255 (applied by
:mod:`fscfnet.data.normalize`, which describes the three policies)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError

KINDS = ("8bit", "range", "percentile")


@dataclass(frozen=True)
class InputNorm:
    """``8bit``, ``range LO HI`` or ``percentile PLO PHI``; ``str()`` gives the spelling it was parsed from."""

    kind: str = "8bit"
    lo: float = 0.0
    hi: float = 0.0

    @classmethod
    def parse(cls, spec: str | None) -> "InputNorm":
        """``"8bit"``, ``"range LO HI"`` or ``"percentile PLO PHI"`` (None: 8bit); a one-line error otherwise."""
        words = str(spec or "8bit").replace(",", " ").split()
        try:
            if words[0] == "8bit" and len(words) == 1:
                return cls()
            if words[0] in ("range", "percentile") and len(words) == 3:
                lo, hi = float(words[1]), float(words[2])
                if lo < hi and (words[0] == "range" or 0 <= lo < hi <= 100):
                    return cls(words[0], lo, hi)
        except (IndexError, ValueError):
            pass
        raise UserError(f"input normalisation {spec!r}: use 8bit, range LO HI (LO < HI) or percentile PLO PHI "
                        f"(0 <= PLO < PHI <= 100)")

    def __str__(self) -> str:
        return self.kind if self.kind == "8bit" else f"{self.kind} {self.lo:g} {self.hi:g}"
