"""The OpenAI Responses API (`/v1/responses`), built on the chat-completions path.

A Responses request is translated into a chat-completions body (`chat_body`), run through the
same `GenerationService` as `/v1/chat/completions`, and its answer translated back (`output`,
`stream`). Stored responses and conversations (`previous_response_id`) live in SQLite (`store`).
"""

from server.responses.service import ResponsesService
from server.responses.store import ResponseStore

__all__ = ["ResponseStore", "ResponsesService"]
