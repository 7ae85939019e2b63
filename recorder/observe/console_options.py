"""What the live console shows (``gateway_console``, ``console_detail``), without rich or the
readers: the gateway reads these at start-up; the printing is the observer process's."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Detail(StrEnum):
    """``console_detail``: what follows each exchange's line."""

    none = "none"  # the line only
    tools = "tools"  # + each tool call with its arguments
    messages = "messages"  # + the new messages and the reply, tool arguments included
    full = "full"  # the same, nothing shortened


@dataclass(slots=True, frozen=True)
class ConsoleConfig:
    detail: Detail = Detail.none
    color: bool = True  # the gateway's stdout is a terminal
