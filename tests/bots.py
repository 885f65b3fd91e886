"""Small chatbots for the `python:` target tests."""

from __future__ import annotations


def echo(messages: list[dict[str, str]]) -> str:
    return "echo: " + messages[-1]["content"]


async def aecho(messages: list[dict[str, str]]) -> str:
    return "async echo: " + messages[-1]["content"]


def broken(messages: list[dict[str, str]]) -> str:
    raise RuntimeError("the bot fell over")
