"""Checks `charlstm serve` with OpenAI's own Python client, unchanged but for the address.

    python scripts/check_openai_client.py http://127.0.0.1:PORT/v1 MODEL_ID

Lists the models, completes a prompt, streams the same request and checks that the streamed
text is the same, and checks that an unknown model is the client's NotFoundError. Run by
crates/charlstm/tests/serve.rs when CHARLSTM_PYTHON names a Python with `openai` (CI does).
"""

import sys

import openai
from openai import OpenAI


def main():
    url, model = sys.argv[1], sys.argv[2]
    client = OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=60)
    models = [m.id for m in client.models.list()]
    assert models == [model], models

    completion = client.completions.create(model=model, prompt="abc", max_tokens=20, seed=3, logprobs=2)
    text = completion.choices[0].text
    assert len(text) == 20, text
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 20
    assert len(completion.choices[0].logprobs.tokens) == 20

    stream = client.completions.create(model=model, prompt="abc", max_tokens=20, seed=3, stream=True)
    streamed = "".join(chunk.choices[0].text for chunk in stream)
    assert streamed == text, (streamed, text)

    try:
        client.completions.create(model="no-such-model", prompt="abc")
        raise AssertionError("an unknown model was accepted")
    except openai.NotFoundError as error:
        assert "does not exist" in str(error), error
    try:
        client.completions.create(model=model, prompt="abc", max_tokens=-1)
        raise AssertionError("max_tokens -1 was accepted")
    except openai.BadRequestError as error:
        assert "max_tokens" in str(error), error

    print(f"the openai client completes and streams: {text!r}")


if __name__ == "__main__":
    main()
