"""The LLM client: Pipecat's OpenAI service, sending only conversations every OpenAI-compatible server accepts.

Pipecat writes things into the context that some servers refuse, and a refused context stays
refused for the rest of the call: after one empty turn (a cough, noise, an STT failure) Pipecat
1.14 adds a ``role: "developer"`` message, llama.cpp answers 500, and every later turn of that
call failed with ``llm_error``. Strict chat templates (Gemma, Mistral and others served by vLLM
or llama.cpp) also refuse a system message after the first, two user messages in a row, or a
window that opens on an assistant message, and every server refuses a context longer than its
window. So the request, not the context, is normalized here: the context keeps what happened,
and each server gets a conversation it accepts.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx
from openai import AsyncOpenAI, DefaultAsyncHttpxClient
from pipecat.services.openai.llm import OpenAILLMService

from voice_common import tracing

Message = dict[str, Any]


def _is_plain(message: Message) -> bool:
    """A text message without tool plumbing: safe to merge with a neighbour of the same role."""
    return (
        isinstance(message.get("content"), str)
        and not message.get("tool_calls")
        and message.get("role") in ("user", "assistant")
    )


def _is_empty(message: Message) -> bool:
    content = message.get("content")
    return not message.get("tool_calls") and (content is None or (isinstance(content, str) and not content.strip()))


def template_safe_messages(messages: list[Message], max_history: int) -> list[Message]:
    """One leading system message, then at most ``max_history`` turns alternating user/assistant, opening on user.

    Later system and developer messages become user messages (the only role every server takes
    anywhere in a conversation); empty messages are dropped; neighbours of the same role are
    joined. The newest messages are kept when the history is cut.
    """
    system: list[str] = []
    conversation: list[Message] = []
    for message in messages:
        role = message.get("role")
        if role == "system" and not conversation:
            if isinstance(message.get("content"), str) and message["content"].strip():
                system.append(message["content"])
            continue
        if _is_empty(message):
            continue
        if role in ("system", "developer"):
            message = {**message, "role": "user"}
        if conversation and _is_plain(message) and _is_plain(conversation[-1]) and conversation[-1]["role"] == message["role"]:
            conversation[-1] = {**conversation[-1], "content": f"{conversation[-1]['content']}\n{message['content']}"}
        else:
            conversation.append(dict(message))
    conversation = conversation[-max_history:] if max_history > 0 else []
    while conversation and conversation[0].get("role") != "user":
        conversation.pop(0)  # a window must open on what the caller said
    head = [{"role": "system", "content": "\n".join(system)}] if system else []
    return head + conversation


@cache
def shared_client(api_key: str, base_url: str, reuse_connections: bool) -> AsyncOpenAI:
    """One client per upstream for the whole process, shared by every call.

    Pipecat builds a client per call: a TLS context (half of a call's set-up CPU here) and a
    connection pool that is never closed. A shared one keeps warm keep-alive connections too,
    unless ``reuse_connections`` is off: llama.cpp's server closes the connection right after each
    streamed reply while announcing keep-alive, so a request sent on a pooled connection just
    after another reply ended fails with "Server disconnected" (measured: 4 of 20 back-to-back
    requests), and the OpenAI client's retry adds about half a second to that turn.
    """
    no_idle_connections = httpx.Limits(max_connections=1000, max_keepalive_connections=0)
    http_client = DefaultAsyncHttpxClient() if reuse_connections else DefaultAsyncHttpxClient(limits=no_idle_connections)
    return AsyncOpenAI(api_key=api_key, base_url=base_url, http_client=http_client)


class OpenAICompatibleLLMService(OpenAILLMService):
    """OpenAI-compatible chat completions (vLLM, llama.cpp, Ollama) with template-safe requests."""

    # llama.cpp, Ollama and most chat templates do not know "developer"; Pipecat then sends "user".
    supports_developer_role = False

    def __init__(self, *, max_history_messages: int, reuse_connections: bool, **kwargs: Any) -> None:
        self._reuse_connections = reuse_connections  # before super().__init__, which creates the client
        super().__init__(**kwargs)
        self._max_history_messages = max_history_messages

    def create_client(self, api_key: str | None = None, base_url: str | None = None, **_kwargs: Any) -> AsyncOpenAI:
        return shared_client(api_key or "", base_url or "", self._reuse_connections)

    def build_chat_completion_params(self, params_from_context: Any) -> dict:
        params = super().build_chat_completion_params(params_from_context)
        params["messages"] = template_safe_messages(list(params["messages"]), self._max_history_messages)
        # Built inside Pipecat's ``llm`` span: the W3C header puts the server's own spans under it.
        if headers := tracing.traceparent():
            params["extra_headers"] = {**(params.get("extra_headers") or {}), **headers}
        return params
