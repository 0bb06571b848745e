"""Reading a text/event-stream response in tests, as a browser's EventSource would."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import aiohttp


@dataclasses.dataclass
class Message:
    """One block of the stream: a message, an id-only block, or a comment."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    retry: int | None = None
    comments: list[str] = dataclasses.field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads(self.data) if self.data is not None else None


def parse_block(block: str) -> Message:
    message = Message()
    for line in block.split("\n"):
        if line.startswith(":"):
            message.comments.append(line[1:].strip())
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "id":
            message.id = value
        elif field == "event":
            message.event = value
        elif field == "data":
            message.data = value if message.data is None else message.data + "\n" + value
        elif field == "retry":
            message.retry = int(value)
    return message


class Stream:
    """The blocks of an open stream, one at a time."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self._buffer = ""
        self.last_id: str | None = None

    async def next(self, within: float = 5.0) -> Message | None:
        """The next block, or None when the stream ended."""
        async with asyncio.timeout(within):
            while "\n\n" not in self._buffer:
                chunk = await self.response.content.readany()
                if not chunk:
                    return None
                self._buffer += chunk.decode()
        block, self._buffer = self._buffer.split("\n\n", 1)
        message = parse_block(block)
        if message.id is not None:
            self.last_id = message.id
        return message

    async def next_event(self, within: float = 5.0) -> Message | None:
        """The next message that carries an event, skipping comments and id-only blocks."""
        async with asyncio.timeout(within):
            while True:
                message = await self.next(within=within)
                if message is None or message.data is not None:
                    return message

    async def quiet(self, within: float) -> bool:
        """Whether no further event arrives within that time (the stream may end meanwhile)."""
        try:
            return await self.next_event(within=within) is None
        except TimeoutError:
            return True

    async def events(self, count: int, within: float = 10.0) -> list[Message]:
        found = []
        async with asyncio.timeout(within):
            while len(found) < count:
                message = await self.next_event(within=within)
                assert message is not None, f"the stream ended after {len(found)} of {count} events"
                found.append(message)
        return found

    async def ended(self, within: float = 5.0) -> bool:
        """Whether the server ends the stream within that time (events before the end are skipped)."""
        try:
            async with asyncio.timeout(within):
                while await self.next(within=within) is not None:
                    pass
        except TimeoutError:
            return False
        except aiohttp.ClientPayloadError:
            return True  # cut off mid-message, as a dropped client sees it
        return True

    def close(self) -> None:
        self.response.close()
