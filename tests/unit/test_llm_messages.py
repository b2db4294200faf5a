"""What every OpenAI-compatible server gets: a conversation its chat template accepts."""

from openai import NOT_GIVEN

from voice_gateway.llm import template_safe_messages
from voice_gateway.pipeline import llm_service
from voice_gateway.settings import GatewaySettings

SYSTEM = {"role": "system", "content": "Be brief."}


def roles(messages):
    return [m["role"] for m in messages]


def test_an_empty_turns_developer_message_is_sent_as_user_and_joined_to_its_neighbour():
    # Pipecat 1.14 after an empty first turn: the developer prompt follows the caller's own words.
    messages = [SYSTEM, {"role": "user", "content": "Hello"}, {"role": "developer", "content": "Ask them to repeat."}]
    assert template_safe_messages(messages, 20) == [SYSTEM, {"role": "user", "content": "Hello\nAsk them to repeat."}]


def test_roles_alternate_and_empty_messages_are_dropped():
    messages = [
        SYSTEM,
        {"role": "user", "content": "One"},
        {"role": "assistant", "content": ""},  # cut off before it said anything
        {"role": "user", "content": "Two"},
        {"role": "assistant", "content": "Answer"},
        {"role": "assistant", "content": "More"},
        {"role": "system", "content": "Late instruction"},
    ]
    result = template_safe_messages(messages, 20)
    assert roles(result) == ["system", "user", "assistant", "user"]
    assert result[1]["content"] == "One\nTwo" and result[2]["content"] == "Answer\nMore"
    assert result[3]["content"] == "Late instruction"


def test_the_history_keeps_the_newest_turns_and_opens_on_a_user_message():
    turns = [{"role": r, "content": f"{r} {i}"} for i in range(10) for r in ("user", "assistant")]
    result = template_safe_messages([SYSTEM, *turns, {"role": "user", "content": "latest"}], 4)
    assert result[0] == SYSTEM
    assert roles(result[1:]) == ["user", "assistant", "user"]
    assert result[-1]["content"] == "latest"


def test_leading_system_messages_merge_into_one_and_the_input_is_not_modified():
    messages = [SYSTEM, {"role": "system", "content": "Speak English."}, {"role": "user", "content": "Hi"}]
    snapshot = [dict(m) for m in messages]
    assert template_safe_messages(messages, 20)[0] == {"role": "system", "content": "Be brief.\nSpeak English."}
    assert messages == snapshot


def test_tool_messages_are_passed_through_unmerged():
    call = {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function"}]}
    result_msg = {"role": "tool", "content": "42", "tool_call_id": "1"}
    messages = [SYSTEM, {"role": "user", "content": "Compute"}, call, result_msg]
    assert template_safe_messages(messages, 20) == messages


def test_the_request_carries_the_configured_penalties_and_leaves_zero_ones_out():
    message = {"messages": [{"role": "user", "content": "Hi."}]}
    by_default = llm_service(GatewaySettings()).build_chat_completion_params(message)
    assert by_default["frequency_penalty"] is NOT_GIVEN and by_default["presence_penalty"] is NOT_GIVEN
    assert (by_default["temperature"], by_default["max_tokens"]) == (0.3, 60)

    penalized = GatewaySettings(llm_frequency_penalty=0.5, llm_presence_penalty=0)
    assert penalized.llm_penalties() == {"frequency_penalty": 0.5}
    request = llm_service(penalized).build_chat_completion_params(message)
    assert request["frequency_penalty"] == 0.5 and request["presence_penalty"] is NOT_GIVEN


def test_server_specific_sampling_fields_travel_in_the_body_and_none_by_default():
    message = {"messages": [{"role": "user", "content": "Hi."}]}
    assert "extra_body" not in llm_service(GatewaySettings()).build_chat_completion_params(message)
    dry = {"dry_multiplier": 0.8, "dry_penalty_last_n": -1}
    request = llm_service(GatewaySettings(llm_extra_body=dry)).build_chat_completion_params(message)
    assert request["extra_body"] == dry


def test_the_extra_body_is_read_from_the_environment_as_json(monkeypatch):
    monkeypatch.setenv("GATEWAY_LLM_EXTRA_BODY", '{"dry_multiplier": 0.8, "dry_allowed_length": 2}')
    assert GatewaySettings().llm_extra_body == {"dry_multiplier": 0.8, "dry_allowed_length": 2}
